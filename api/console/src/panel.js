// The detail panel of a risk point and its warning: identity, exposure, sensors, 7-day
// charts with level bands, the model's evidence and predicted failure time, the audit
// trail, the actions the role allows and the consultation.

import { actionsSection } from "./actions.js";
import { levelBands, timeChart } from "./charts.js";
import { consultationSection } from "./consultation.js";
import { formatNumber, formatTime, h, replace } from "./dom.js";
import { COLOUR, HAZARD_LABEL, levelName } from "./levels.js";

const DAYS = 7;
const DISPLACEMENT = ["gnss", "crack", "inclinometer", "extensometer"];

function definitionList(pairs) {
  return h("dl", {}, pairs.flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, value ?? "–")]));
}

function evidenceTable(evidence) {
  if (!evidence?.length) return h("p", { class: "muted" }, "no evidence recorded");
  return h("table", { class: "evidence" },
    h("thead", {}, h("tr", {}, ["indicator", "sensor", "value", "level", "rule"].map((c) => h("th", {}, c)))),
    h("tbody", {}, evidence.map((item) => h("tr", { dataset: { indicator: item.name } },
      h("td", {}, item.name), h("td", {}, `${item.sensor_id ?? ""} ${item.kind ?? ""}`),
      h("td", { class: "num" }, `${formatNumber(item.value, 2)} ${item.unit ?? ""}`),
      h("td", {}, h("span", { class: "level", style: `background:${COLOUR[item.level] ?? COLOUR.none}` }, item.level)),
      h("td", { class: "small" }, item.rule ?? (item.thresholds ? Object.entries(item.thresholds).map(([l, v]) => `${l} ≥ ${v}`).join(", ") : ""))))));
}

function predictedFailure(evidence) {
  const forecasts = (evidence ?? []).filter((item) => item.predicted_failure_at)
    .sort((a, b) => a.predicted_failure_at.localeCompare(b.predicted_failure_at));
  if (!forecasts.length) return "no failure predicted";
  const f = forecasts[0];
  const interval = f.predicted_failure_lower && f.predicted_failure_upper
    ? ` (between ${formatTime(f.predicted_failure_lower)} and ${formatTime(f.predicted_failure_upper)})` : "";
  return `${formatTime(f.predicted_failure_at)}${interval} by ${f.name} on ${f.sensor_id}`;
}

function sensorStatus(evidence) {
  const status = {};
  for (const item of evidence ?? []) if (item.sensor_id && item.status) status[item.sensor_id] = item.status;
  return status;
}

function thresholdsOf(evidence, test) {
  const lines = new Map();
  for (const item of evidence ?? []) {
    if (!test(item)) continue;
    for (const [level, value] of Object.entries(item.thresholds ?? {})) lines.set(`${level}:${value}`, [value, level]);
  }
  return [...lines.values()];
}

const seconds = (times) => times.map((t) => Date.parse(t) / 1000);

async function chartsSection(point, warning, api) {
  const section = h("section", { class: "charts", "aria-label": "charts" }, h("h3", {}, `Last ${DAYS} days`));
  const kinds = new Set(point.sensors.map((s) => s.kind));
  const end = new Date();
  const start = new Date(end.getTime() - DAYS * 864e5);
  const range = `from=${start.toISOString()}&to=${end.toISOString()}&max_samples=600`;
  const series = (kind) => api.get(`/risk-points/${encodeURIComponent(point.id)}/series?kind=${kind}&${range}`);
  const evidence = warning?.evidence ?? [];
  const slot = () => section.appendChild(h("div"));  // the charts keep this order, whichever loads first
  const jobs = [];
  const displacement = DISPLACEMENT.find((kind) => kinds.has(kind));
  if (displacement) {
    const [shift, speed] = [slot(), slot()];
    jobs.push(series(displacement).then((s) => {
      const t = seconds(s.sensors[0]?.last_at ?? []);
      const bands = levelBands(s);
      timeChart(shift, { title: `Displacement (${displacement})`, unit: s.unit, t, bands,
        lines: s.sensors.map((sensor) => ({ label: sensor.sensor_id, values: sensor.last })) });
      timeChart(speed, { title: "Velocity", unit: s.velocity_unit, t, bands,
        thresholds: thresholdsOf(evidence, (i) => i.name === "velocity" && i.kind === displacement),
        lines: s.sensors.map((sensor) => ({ label: sensor.sensor_id, values: sensor.velocity ?? [] })) });
    }));
  }
  if (kinds.has("rain_gauge")) {
    const rain = slot();
    jobs.push(series("rain_gauge").then((s) => timeChart(rain, {
      title: "Rainfall", unit: s.unit, t: seconds(s.sensors[0]?.t ?? []), bands: levelBands(s),
      thresholds: thresholdsOf(evidence, (i) => i.kind === "rain_gauge"),
      lines: s.sensors.map((sensor) => ({ label: sensor.sensor_id, values: sensor.mean })) })));
  }
  if (!jobs.length) section.append(h("p", { class: "muted" }, "no displacement or rain sensors"));
  const results = await Promise.allSettled(jobs);
  for (const r of results) if (r.status === "rejected") section.append(h("p", { class: "error" }, r.reason.message));
  return section;
}

export function createPanel(container, { api, me, token, onChanged, onClose }) {
  let consultation = null;
  let shown = null;  // {pointId, warningId}

  function close() {
    consultation?.close();
    consultation = null;
    shown = null;
    container.hidden = true;
    onClose?.();
  }

  async function open({ pointId, warningId, notice = null }) {
    consultation?.close();
    consultation = null;
    shown = { pointId, warningId };
    container.hidden = false;
    replace(container, h("p", { class: "muted" }, "loading…"));
    try {
      const warning = warningId ? (await api.get(`/warnings/${encodeURIComponent(warningId)}`)).properties : null;
      const point = (await api.get(`/risk-points/${encodeURIComponent(pointId ?? warning.point_id)}`)).properties;
      if (shown?.pointId !== pointId || shown?.warningId !== warningId) return;  // another was opened meanwhile
      shown = { pointId: point.id, warningId: warning?.id ?? null };
      render(point, warning, notice);
    } catch (error) {
      replace(container, h("button", { type: "button", class: "close", onclick: close }, "×"),
              h("p", { class: "error" }, error.message));
    }
  }

  function render(point, warning, notice) {
    const level = warning?.level ?? point.level;
    // The point's own health (newest assessment) first; a warning's evidence adds stuck sensors.
    const status = { ...Object.fromEntries((point.offline_sensors ?? []).map((id) => [id, "offline"])),
                     ...sensorStatus(warning?.evidence) };
    replace(container,
      h("header", { class: "panel-head" },
        h("span", { class: "level", style: `background:${COLOUR[level]}` }, levelName(level)),
        h("h2", {}, point.name), h("button", { type: "button", class: "close", "aria-label": "close", onclick: close }, "×")),
      definitionList([
        ["Point", point.id], ["Hazard", HAZARD_LABEL[point.hazard_type] ?? point.hazard_type],
        ["Province / county", `${point.province ?? "–"} / ${point.county ?? "–"}`],
        ["Location", `${point.lon.toFixed(4)}, ${point.lat.toFixed(4)}`],
        ["Threatened people", formatNumber(point.threatened_people)],
        ["Households", formatNumber(point.households)],
      ]),
      h("section", { "aria-label": "sensors" }, h("h3", {}, "Sensors"), point.sensors.length
        ? h("ul", { class: "sensors" }, point.sensors.map((s) => h("li", { dataset: { status: status[s.sensor_id] ?? "unknown" } },
          `${s.sensor_id} · ${s.kind} (${s.unit})`, status[s.sensor_id] ? h("span", { class: "pill" }, status[s.sensor_id]) : null)))
        : h("p", { class: "muted" }, "no sensors registered")),
      warning ? warningSection(warning) : h("p", { class: "muted" }, "no active warning"),
    );
    if (warning) {
      container.append(actionsSection(warning, { me, api, notice, onDone: (result, text) => {
        onChanged?.(result);
        open({ pointId: point.id, warningId: warning.id, notice: text });  // reload the new state
      } }));
    }
    const charts = h("div", { class: "charts-slot" }, h("p", { class: "muted" }, "loading charts…"));
    container.append(charts);
    chartsSection(point, warning, api).then((section) => charts.replaceWith(section));
    if (warning) {
      consultation = consultationSection(warning, { api, me, token });
      container.append(consultation.element);
      container.append(auditTrail(warning));
    }
  }

  function warningSection(warning) {
    return h("section", { class: "warning", dataset: { warningId: warning.id, state: warning.state ?? "" },
                          "aria-label": "warning" },
      h("h3", {}, "Warning"),
      definitionList([
        ["Warning", warning.id], ["State", h("span", { class: "state" }, `${warning.state ?? "–"} (version ${warning.version ?? "–"})`)],
        ["Opened", formatTime(warning.opened_at)], ["Updated", formatTime(warning.updated_at)],
        ["Acknowledge by", formatTime(warning.ack_due_at)], ["Model", `${warning.model} ${warning.model_version}`],
        ["Predicted failure", predictedFailure(warning.evidence)],
      ]),
      areaPoints(warning.points_inside),
      h("h4", {}, "Evidence"), evidenceTable(warning.evidence));
  }

  /** The other risk points inside a warned area (a point registered as a polygon). */
  function areaPoints(points) {
    if (!points?.length) return null;
    const people = points.reduce((sum, p) => sum + p.threatened_people, 0);
    return h("section", { class: "area-points", "aria-label": "points inside the area" },
      h("h4", {}, `Inside the area: ${points.length} risk points, ${formatNumber(people)} people`),
      h("ul", {}, points.map((p) => h("li", { dataset: { pointId: p.id } },
        h("span", { class: "level", style: `background:${COLOUR[p.level] ?? COLOUR.none}` }, levelName(p.level)),
        ` ${p.name} · ${HAZARD_LABEL[p.hazard_type] ?? p.hazard_type} · `,
        `${formatNumber(p.threatened_people)} people, ${formatNumber(p.households)} households`))));
  }

  function auditTrail(warning) {
    return h("section", { class: "audit", "aria-label": "audit trail" }, h("h3", {}, "Audit trail"),
      h("ol", {}, (warning.transitions ?? []).map((t) => h("li", {},
        `${formatTime(t.recorded_at)} ${t.kind} ${t.from_level}→${t.to_level}`,
        t.actor ? ` by ${t.actor}` : "", t.reason ? `: ${t.reason}` : ""))));
  }

  return { open, close, shown: () => shown };
}
