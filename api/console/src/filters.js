// Filter controls shared by the map and the warning list: level, hazard type, province,
// sensor offline.

import { h, replace } from "./dom.js";
import { hazardSwatch } from "./icons.js";
import { COLOUR, HAZARD_LABEL, LEVELS, levelName } from "./levels.js";

export function createFilters(container, { hazards, provinces, onChange }) {
  const state = { levels: [...LEVELS], hazards: [...hazards], province: "", offlineOnly: false };

  const toggle = (list, value, on) => (on ? [...new Set([...list, value])] : list.filter((v) => v !== value));
  const changed = () => onChange({ ...state });

  const levelBoxes = LEVELS.map((level) => h("label", { class: "chip" },
    h("input", { type: "checkbox", checked: true, name: "level", value: level,
                 onchange: (e) => { state.levels = toggle(state.levels, level, e.target.checked); changed(); } }),
    h("span", { class: "dot", style: `background:${COLOUR[level]}` }), levelName(level)));
  const hazardBoxes = hazards.map((hazard) => h("label", { class: "chip" },
    h("input", { type: "checkbox", checked: true, name: "hazard", value: hazard,
                 onchange: (e) => { state.hazards = toggle(state.hazards, hazard, e.target.checked); changed(); } }),
    hazardSwatch(hazard), HAZARD_LABEL[hazard] ?? hazard));
  const province = h("select", { name: "province", onchange: (e) => { state.province = e.target.value; changed(); } },
    h("option", { value: "" }, "all provinces"),
    provinces.map(([adcode, name]) => h("option", { value: adcode }, name)));
  const offline = h("label", { class: "chip" },
    h("input", { type: "checkbox", name: "offline",
                 onchange: (e) => { state.offlineOnly = e.target.checked; changed(); } }),
    "sensor offline");

  replace(container,
    h("div", { class: "filter-row" }, levelBoxes),
    h("div", { class: "filter-row" }, hazardBoxes),
    h("div", { class: "filter-row" }, province, offline));
  return { state: () => ({ ...state }) };
}
