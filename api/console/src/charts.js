// Time-series charts (uPlot): the point's level over time as coloured background bands,
// thresholds as dashed lines in their level's colour. Drag to zoom, double-click to reset.

import uPlot from "uplot";
import { h } from "./dom.js";
import { COLOUR } from "./levels.js";

const BAND_ALPHA = "30";  // hex alpha of the level bands
const PANEL_WIDTH = 400;   // when drawn before the panel shows it

/** Level intervals [from s, to s, level] from the series' level timeline. */
export function levelBands(series) {
  const changes = [...(series.level_at_from ? [{ ...series.level_at_from,
    observed_at: series.from }] : []), ...series.levels];
  const end = Date.parse(series.to) / 1000;
  return changes.map((change, i) => [
    Math.max(Date.parse(change.observed_at), Date.parse(series.from)) / 1000,
    i + 1 < changes.length ? Date.parse(changes[i + 1].observed_at) / 1000 : end,
    change.level,
  ]).filter(([from, to, level]) => to > from && level !== "none");
}

function bandsPlugin(bands, thresholds) {
  return {
    hooks: {
      drawClear: [(u) => {
        const { ctx, bbox } = u;
        ctx.save();
        for (const [from, to, level] of bands) {
          const x0 = u.valToPos(from, "x", true), x1 = u.valToPos(to, "x", true);
          const left = Math.max(bbox.left, x0), right = Math.min(bbox.left + bbox.width, x1);
          if (right <= left) continue;
          ctx.fillStyle = COLOUR[level] + BAND_ALPHA;
          ctx.fillRect(left, bbox.top, right - left, bbox.height);
        }
        ctx.restore();
      }],
      draw: [(u) => {
        const { ctx, bbox } = u;
        ctx.save();
        ctx.setLineDash([6, 4]);
        ctx.lineWidth = 1.5 * devicePixelRatio;
        for (const [value, level] of thresholds) {
          const y = u.valToPos(value, "y", true);
          if (y < bbox.top || y > bbox.top + bbox.height) continue;
          ctx.strokeStyle = COLOUR[level] ?? "#555";
          ctx.beginPath();
          ctx.moveTo(bbox.left, y);
          ctx.lineTo(bbox.left + bbox.width, y);
          ctx.stroke();
        }
        ctx.restore();
      }],
    },
  };
}

const PALETTE = ["#1b4f72", "#117a65", "#7d3c98", "#a04000", "#2e4053"];

/**
 * A chart in `container`: `t` in seconds, `lines` [{label, values}], `bands` from
 * levelBands, `thresholds` [[value, level]] drawn and kept inside the y range.
 */
export function timeChart(container, { title, unit, t, lines, bands = [], thresholds = [] }) {
  const figure = h("figure", { class: "chart", dataset: { chart: title } },
    h("figcaption", {}, `${title} (${unit})`));
  container.append(figure);
  if (!t.length) {
    figure.append(h("p", { class: "muted" }, "no readings in the last 7 days"));
    return null;
  }
  const values = lines.flatMap((line) => line.values).filter((v) => v !== null && Number.isFinite(v));
  const limits = [...values, ...thresholds.map(([v]) => v)];
  const options = {
    width: container.clientWidth > 0 ? Math.max(280, container.clientWidth - 8) : PANEL_WIDTH, height: 160,
    scales: { x: { time: true }, y: { range: () => {
      const lo = Math.min(...limits), hi = Math.max(...limits), pad = (hi - lo || Math.abs(hi) || 1) * 0.08;
      return [lo - pad, hi + pad];
    } } },
    series: [{}, ...lines.map((line, i) => ({ label: line.label, stroke: PALETTE[i % PALETTE.length],
                                              width: 1.5, spanGaps: false }))],
    axes: [{}, { label: unit, size: 50 }],
    cursor: { drag: { x: true, y: false } },  // drag to zoom in time; double-click resets
    plugins: [bandsPlugin(bands, thresholds)],
  };
  return new uPlot(options, [t, ...lines.map((line) => line.values)], figure);
}
