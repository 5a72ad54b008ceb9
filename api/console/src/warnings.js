// The warning list: active warnings in scope, sortable by column, filtered by the shared
// filters and a text search; new orange and red warnings are highlighted.

import { formatTime, h, replace } from "./dom.js";
import { COLOUR, HAZARD_LABEL, levelName, levelRank } from "./levels.js";

const COLUMNS = [
  { key: "level", label: "Level", value: (p) => levelRank(p.level) },
  { key: "point_name", label: "Point", value: (p) => p.point_name },
  { key: "place", label: "Province / county", value: (p) => `${p.province ?? ""} ${p.county ?? ""}` },
  { key: "state", label: "State", value: (p) => p.state ?? "" },
  { key: "threatened_people", label: "People", value: (p) => p.threatened_people },
  { key: "updated_at", label: "Updated", value: (p) => p.updated_at },
];
// Rows are laid out a page at a time, the next page when the end of the list scrolls into
// view: 2,500 table rows at once cost the main thread over a second just after the first view.
const PAGE = 150;

export function createWarningList(container, { onSelect }) {
  const warnings = new Map();  // id -> properties
  const fresh = new Set();
  let sort = { key: "level", descending: true };
  let filters = null;
  let search = "";
  let selected = null;
  let rows = [];       // visible, sorted
  let shown = 0;       // rows laid out in the table
  let limit = PAGE;

  const searchBox = h("input", { type: "search", placeholder: "search point, county, id",
                                 oninput: (e) => { search = e.target.value.trim().toLowerCase(); render(); } });
  const count = h("span", { class: "muted" });
  const body = h("tbody");
  const more = h("td", { colspan: COLUMNS.length, class: "muted small" });
  const foot = h("tfoot", {}, h("tr", {}, more));
  const nearEnd = new IntersectionObserver((entries) => {
    if (!entries.at(-1).isIntersecting || shown >= rows.length) return;
    limit += PAGE;
    appendRows();
    nearEnd.unobserve(foot);  // observed afresh: called again at once if the end is still in view
    nearEnd.observe(foot);
  }, { rootMargin: "0px 0px 300px 0px" });
  nearEnd.observe(foot);
  const head = h("tr", {}, COLUMNS.map((column) => h("th", {
    dataset: { sort: column.key }, tabindex: 0,
    onclick: () => {
      sort = { key: column.key, descending: sort.key === column.key ? !sort.descending : true };
      render();
    },
  }, column.label)));
  replace(container, h("div", { class: "list-tools" }, searchBox, count),
          h("table", { class: "warnings" }, h("thead", {}, head), body, foot));

  function visible(p) {
    if (filters) {
      if (!filters.levels.includes(p.level)) return false;
      if (!filters.hazards.includes(p.hazard_type)) return false;
      if (filters.province && !(p.jurisdictions ?? []).some((a) => a.slice(0, 2) === filters.province.slice(0, 2))
          && p.province_adcode !== filters.province) return false;
      if (filters.offlineOnly && !p.sensor_offline) return false;
    }
    if (!search) return true;
    return [p.point_name, p.point_id, p.id, p.county, p.province].some((v) => v && String(v).toLowerCase().includes(search));
  }

  function row(p) {
    return h("tr", {
      dataset: { warningId: p.id, level: p.level },
      class: [fresh.has(p.id) ? "fresh" : "", selected === p.id ? "selected" : ""].join(" ").trim() || undefined,
      onclick: () => { fresh.delete(p.id); select(p.id); onSelect(p.id); },
    },
      h("td", {}, h("span", { class: "level", style: `background:${COLOUR[p.level]}` }, levelName(p.level))),
      h("td", {}, p.point_name, h("div", { class: "muted small" }, HAZARD_LABEL[p.hazard_type] ?? p.hazard_type)),
      h("td", {}, `${p.province ?? ""} ${p.county ?? ""}`),
      h("td", {}, p.state ?? ""),
      h("td", { class: "num" }, p.threatened_people),
      h("td", { class: "small" }, formatTime(p.updated_at).slice(5, 16)));
  }

  function appendRows() {
    const end = Math.min(rows.length, limit);
    body.append(...rows.slice(shown, end).map(row));
    shown = end;
    more.textContent = shown < rows.length ? `${rows.length - shown} more…` : "";
  }

  function render() {
    const column = COLUMNS.find((c) => c.key === sort.key);
    rows = [...warnings.values()].filter(visible).sort((a, b) => {
      const x = column.value(a), y = column.value(b);
      const order = x < y ? -1 : x > y ? 1 : 0;
      return sort.descending ? -order : order;
    });
    for (const th of head.children) {
      th.dataset.order = th.dataset.sort === sort.key ? (sort.descending ? "desc" : "asc") : "";
    }
    count.textContent = `${rows.length} of ${warnings.size} active`;
    const at = selected === null ? -1 : rows.findIndex((p) => p.id === selected);
    limit = Math.max(limit, at + 1);  // a warning opened from the map or an alert is laid out
    body.replaceChildren();
    shown = 0;
    appendRows();
  }

  function select(id) {
    selected = id;
    render();
  }

  return {
    setAll(features) {
      warnings.clear();
      for (const f of features) warnings.set(f.properties.id, f.properties);
      render();
    },
    upsert(properties, { highlight = false } = {}) {
      if (properties.status === "lifted") warnings.delete(properties.id);
      else warnings.set(properties.id, { ...warnings.get(properties.id), ...properties });
      if (highlight) fresh.add(properties.id);
      render();
    },
    setFilters(state) { filters = state; render(); },
    select,
    get: (id) => warnings.get(id),
  };
}
