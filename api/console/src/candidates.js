// The analyst's view: InSAR candidate risk areas with their evidence, to accept as a new
// risk point or reject with a reason (analysts and officers decide; responders see the evidence).

import { formatNumber, formatTime, h, replace } from "./dom.js";
import { HAZARD_LABEL } from "./levels.js";

function centre(area) {
  return [area.lon, area.lat];
}

export function createCandidateList(container, { api, hazards, canDecide, onShow, onDecided }) {
  const areas = new Map();
  let openId = null;
  let notice = "";  // the outcome of the last decision, kept above the list

  async function load() {
    try {
      const collection = await api.get("/candidate-areas?status=candidate&limit=1000");
      areas.clear();
      for (const f of collection.features) areas.set(f.properties.id, f.properties);
      render();
      return collection;
    } catch (error) {
      replace(container, h("p", { class: "error" }, error.message));
      return { type: "FeatureCollection", features: [] };
    }
  }

  function evidence(area) {
    const items = Array.isArray(area.evidence) ? area.evidence : Object.entries(area.evidence ?? {}).map(([k, v]) => ({ name: k, value: v }));
    return h("dl", { class: "small" },
      [["product", area.product], ["valid", formatTime(area.valid_at)], ["area", `${formatNumber(area.area_m2 / 1e4, 1)} ha`],
       ["pixels", area.pixel_count], ["mean velocity", `${formatNumber(area.mean_velocity_mm_yr, 1)} mm/yr`],
       ["peak velocity", `${formatNumber(area.peak_velocity_mm_yr, 1)} mm/yr`],
       ...items.map((i) => [i.name ?? "", typeof i.value === "object" ? JSON.stringify(i.value) : `${i.value ?? ""} ${i.unit ?? ""}`])]
        .flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v ?? "–")]));
  }

  function decisionForms(area) {
    const status = h("p", { class: "action-status", role: "status" });
    const name = h("input", { name: "name", required: true, placeholder: "risk point name" });
    const hazard = h("select", { name: "hazard_type" }, hazards.map((x) => h("option", { value: x }, HAZARD_LABEL[x] ?? x)));
    const people = h("input", { name: "threatened_people", type: "number", min: 0, value: 0 });
    const households = h("input", { name: "households", type: "number", min: 0, value: 0 });
    const reason = h("input", { name: "reason", required: true, placeholder: "why it is not a hazard" });
    const decided = (text) => { notice = text; areas.delete(area.id); render(); onDecided?.(); };
    return h("div", { class: "decide" },
      h("form", { onsubmit: async (e) => {
        e.preventDefault();
        try {
          const result = await api.post(`/candidate-areas/${area.id}/accept`, { name: name.value.trim(), hazard_type: hazard.value,
            threatened_people: Number(people.value), households: Number(households.value) });
          decided(`${area.id}: accepted as risk point ${result.risk_point.properties.id}`);
        } catch (error) { status.textContent = error.message; }
      } }, name, hazard, h("label", {}, "people ", people), h("label", {}, "households ", households),
        h("button", { type: "submit", class: "primary", dataset: { action: "accept" } }, "Accept")),
      h("form", { onsubmit: async (e) => {
        e.preventDefault();
        try {
          await api.post(`/candidate-areas/${area.id}/reject`, { reason: reason.value.trim() });
          decided(`${area.id}: rejected`);
        } catch (error) { status.textContent = error.message; }
      } }, reason, h("button", { type: "submit", class: "danger", dataset: { action: "reject" } }, "Reject")),
      status);
  }

  function render() {
    const outcome = h("p", { class: "action-status decided", role: "status" }, notice);
    if (!areas.size) {
      replace(container, outcome, h("p", { class: "muted" }, "no candidate areas await a decision"));
      return;
    }
    replace(container, outcome, h("ul", { class: "candidates" }, [...areas.values()].map((area) => h("li", {
      dataset: { areaId: area.id }, class: openId === area.id ? "open" : undefined },
      h("button", { type: "button", class: "link", onclick: () => { openId = area.id; render(); onShow(centre(area)); } },
        `${formatNumber(area.peak_velocity_mm_yr, 0)} mm/yr · ${formatNumber(area.area_m2 / 1e4, 1)} ha · ${formatTime(area.valid_at)}`),
      openId === area.id ? [evidence(area), canDecide ? decisionForms(area)
        : h("p", { class: "muted small" }, "an analyst or officer of the province accepts or rejects it")] : null))));
  }

  return { load, open: (id) => { openId = id; render(); const a = areas.get(id); if (a) onShow(centre(a)); } };
}
