// Map symbols: one small image per hazard type and level (shape = hazard, fill = level),
// drawn on a canvas at start-up, so the map needs no sprite server and works offline.

import { COLOUR, HAZARD_SHAPE, LEVELS } from "./levels.js";

const SIZE = 18;

function path(context, shape, s) {
  const m = 2, c = s / 2;
  context.beginPath();
  switch (shape) {
    case "triangle": context.moveTo(c, m); context.lineTo(s - m, s - m); context.lineTo(m, s - m); break;
    case "square": context.rect(m + 1, m + 1, s - 2 * m - 2, s - 2 * m - 2); break;
    case "diamond": context.moveTo(c, m); context.lineTo(s - m, c); context.lineTo(c, s - m); context.lineTo(m, c); break;
    case "bar": context.rect(m, c - 3, s - 2 * m, 6); break;
    default: context.arc(c, c, c - m, 0, 2 * Math.PI);
  }
  context.closePath();
}

export function iconName(hazard, level) {
  return `${hazard}-${level}`;
}

export function addHazardIcons(map, hazards) {
  const ratio = Math.min(2, window.devicePixelRatio || 1);
  const s = Math.round(SIZE * ratio);
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = s;
  const context = canvas.getContext("2d", { willReadFrequently: true });
  for (const hazard of hazards) {
    for (const level of LEVELS) {
      context.clearRect(0, 0, s, s);
      path(context, HAZARD_SHAPE[hazard] ?? "circle", s);
      context.fillStyle = COLOUR[level];
      context.fill();
      context.lineWidth = 1.5 * ratio;
      context.strokeStyle = "#ffffff";
      if (HAZARD_SHAPE[hazard] === "ring") {  // subsidence: a hollow ring in the level colour
        context.lineWidth = 4 * ratio;
        context.strokeStyle = COLOUR[level];
        context.clearRect(0, 0, s, s);
        context.beginPath();
        context.arc(s / 2, s / 2, s / 2 - 3 * ratio, 0, 2 * Math.PI);
      }
      context.stroke();
      map.addImage(iconName(hazard, level), context.getImageData(0, 0, s, s), { pixelRatio: ratio });
    }
  }
}

/** A small swatch of the symbol for legends and lists. */
export function hazardSwatch(hazard, level = "none") {
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = SIZE;
  canvas.className = "swatch";
  const context = canvas.getContext("2d");
  path(context, HAZARD_SHAPE[hazard] ?? "circle", SIZE);
  context.fillStyle = COLOUR[level];
  context.fill();
  return canvas;
}
