// The console's entry point: log in, draw the map and lists, follow the live feed.
// Each part lives in its own module; this one only wires them together.

import "maplibre-gl/dist/maplibre-gl.css";
import "uplot/dist/uPlot.min.css";
import "./console.css";

import { createAlerter } from "./alert.js";
import { createApi } from "./api.js";
import { REVIEW, can, forgetToken, loginForm, storedToken } from "./auth.js";
import { createCandidateList } from "./candidates.js";
import { createFilters } from "./filters.js";
import { isUrgent, levelRank } from "./levels.js";
import { liveSocket, showState } from "./live.js";
import { createConsoleMap } from "./map.js";
import { createPanel } from "./panel.js";
import { createWarningList } from "./warnings.js";

const $ = (selector) => document.querySelector(selector);
const config = JSON.parse($("#geowarn-config")?.textContent ?? "{}");
const ALERTING = new Set(["opened", "escalated", "issued", "escalated_to_national", "renotified"]);

function ready(name, detail) {
  performance.mark(`geowarn:${name}`, { detail });
  document.body.dataset[name] = "true";
}

async function authenticate() {
  let token = storedToken();
  for (;;) {
    token ??= await loginForm($("#login"), $("#login-error"));
    const api = createApi({ token: () => token, onUnauthorized: () => { forgetToken(); location.reload(); } });
    // Asked at once, beside /auth/me: the points are most of the first view's wait.
    const pointsRequest = api.get("/console/points");
    pointsRequest.catch(() => {});  // a refused token is handled below
    try {
      return { token, api, pointsRequest, me: await api.get("/auth/me") };
    } catch {
      forgetToken();
      token = null;
      $("#app").hidden = true;  // shown early beside the stored token (see start)
    }
  }
}

async function start() {
  let token = storedToken();
  let candidates = null;
  let consoleMap = null;
  function showMap() {
    $("#app").hidden = false;
    consoleMap ??= createConsoleMap($("#map"), {
      config, token: () => token,
      onPoint: (pointId) => openPoint(pointId),
      onCandidate: (areaId) => { showView("candidates"); candidates.open(areaId); },
    });
  }
  const authenticated = authenticate();
  // With a token kept by this tab, the map (its WebGL context, worker and base layer) starts
  // beside /auth/me and the points: a refused token reloads the page into the login form.
  if (token) showMap();
  const { token: accepted, api, me, pointsRequest } = await authenticated;
  token = accepted;
  showMap();
  $("#user").textContent = `${me.name} · ${me.role.replace("_", " ")}${me.provinces.length ? ` · ${me.provinces.join(", ")}` : ""}`;
  $("#logout").addEventListener("click", () => { forgetToken(); location.reload(); });
  document.body.dataset.role = me.role;

  const panel = createPanel($("#panel"), { api, me, token: () => token,
                                           onClose: () => { consoleMap.select(null); list.select(null); } });
  const list = createWarningList($("#warning-list"), { onSelect: (id) => openWarning(id) });
  const alerter = createAlerter({ button: $("#mute"), banner: $("#alert-banner"), onOpen: (id) => openWarning(id) });

  function openPoint(pointId) {
    const data = consoleMap.points();
    const i = consoleMap.pointIndex(pointId);
    const warningId = i === undefined ? null : data.warning_id[i];
    if (i !== undefined) consoleMap.select([data.lon[i], data.lat[i]]);
    if (warningId) list.select(warningId);
    panel.open({ pointId, warningId });
  }

  function openWarning(id) {
    const w = list.get(id);
    if (w) {
      const i = consoleMap.pointIndex(w.point_id);
      const lonLat = i === undefined ? null : [consoleMap.points().lon[i], consoleMap.points().lat[i]];
      if (lonLat) { consoleMap.select(lonLat); consoleMap.flyTo(lonLat); }
    }
    list.select(id);
    panel.open({ pointId: w?.point_id ?? null, warningId: id });
  }

  // Views: the warning list (everyone) and candidate areas (InSAR, for analysts above all).
  function showView(view) {
    for (const button of document.querySelectorAll("[data-view]")) button.classList.toggle("active", button.dataset.view === view);
    for (const pane of document.querySelectorAll("[data-view-pane]")) pane.hidden = pane.dataset.viewPane !== view;
  }
  for (const button of document.querySelectorAll("[data-view]")) button.addEventListener("click", () => showView(button.dataset.view));
  if (me.role === "analyst") showView("candidates");

  const points = await pointsRequest;
  performance.mark("geowarn:pointsFetched");
  // Requested once the points have arrived: one API process serves both, one at a time.
  const warningsRequest = api.get("/warnings?status=active&limit=10000");
  const offlinePoints = new Set(points.offline.map((i) => points.id[i]));
  const annotate = (p) => ({ ...p, sensor_offline: offlinePoints.has(p.point_id) });
  await consoleMap.setPoints(points);
  $("#point-count").textContent = `${points.count.toLocaleString("en")} risk points`;
  document.body.dataset.pointCount = String(points.count);
  ready("pointsReady", { count: points.count });  // the map is drawn and answers clicks
  list.setAll((await warningsRequest).features.map((f) => ({ ...f, properties: annotate(f.properties) })));
  ready("warningsReady");

  // After the first view: the rest of the base layer, filters, candidate areas, the live feed.
  consoleMap.loadSymbols();
  consoleMap.addCounties();
  consoleMap.addNowcast();
  if (me.provinces.length) consoleMap.fitProvinces(me.provinces);
  const names = await consoleMap.provinceNames();
  createFilters($("#filters"), {
    hazards: points.hazards,
    provinces: points.provinces.filter(Boolean).map((adcode) => [adcode, names[adcode] ?? adcode])
      .sort((a, b) => a[0].localeCompare(b[0])),
    onChange: (state) => { consoleMap.setFilter(state); list.setFilters(state); },
  });
  candidates = createCandidateList($("#candidate-list"), {
    api, hazards: points.hazards, canDecide: can(me, REVIEW), onShow: (lonLat) => consoleMap.flyTo(lonLat, 12),
    onDecided: async () => {  // an accepted area is a new risk point
      consoleMap.setCandidates(await candidates.load());
      await reload();
    },
  });
  candidates.load().then((collection) => consoleMap.setCandidates(collection));

  async function reload() {  // after a reconnect: events may have been missed
    const [fresh, active] = await Promise.all([api.get("/console/points"), api.get("/warnings?status=active&limit=10000")]);
    await consoleMap.setPoints(fresh);
    list.setAll(active.features.map((f) => ({ ...f, properties: annotate(f.properties) })));
  }

  async function onWarningEvent(event) {
    const lifted = event.transition === "lifted";
    consoleMap.setLevel(event.point_id, lifted ? "none" : event.to_level);
    const urgent = isUrgent(event.to_level) && ALERTING.has(event.transition)
      && (event.transition !== "escalated" || levelRank(event.to_level) > levelRank(event.from_level));
    let properties;
    try {
      properties = (await api.get(`/warnings/${encodeURIComponent(event.warning_id)}`)).properties;
    } catch {  // not readable (yet): show what the event says
      properties = { id: event.warning_id, point_id: event.point_id, point_name: event.point_name,
                     level: event.to_level, hazard_type: event.hazard_type, province: event.province,
                     county: event.county, threatened_people: event.threatened_people,
                     status: lifted ? "lifted" : "active", updated_at: event.issued_at, jurisdictions: event.jurisdictions };
    }
    const data = consoleMap.points();
    const i = consoleMap.pointIndex(event.point_id);
    if (i !== undefined) data.warning_id[i] = lifted ? null : event.warning_id;
    list.upsert(annotate(properties), { highlight: urgent });
    if (urgent) alerter.alert(event);
    const shown = panel.shown();
    if (shown?.warningId === event.warning_id && event.actor !== me.name) panel.open(shown);
    document.body.dataset.lastEvent = event.event_id;
  }

  const live = liveSocket("/ws/warnings", {
    token: () => token,
    onState: (state, detail) => showState($("#live-state"), state, detail),
    onReconnected: reload,
    onRefused: () => { if (!storedToken()) location.reload(); },
    onMessage: (frame) => { if (frame.type === "warning_event") onWarningEvent(frame.event); },
  });
  // For operators' scripts and the browser tests: the map, the live feed, a point's feature id.
  window.geowarnConsole = { map: consoleMap.map, live, openWarning, openPoint,
                            pointIndex: consoleMap.pointIndex, pointStats: consoleMap.pointStats };
  ready("consoleReady");
}

start().catch((error) => {
  document.body.dataset.error = error.message;
  console.error(error);
});
