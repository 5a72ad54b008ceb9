// The map: our province and county boundaries as the (offline) base layer, an optional
// online raster basemap, the rainfall nowcast tiles, InSAR candidate areas and every
// risk point (one WebGL draw of 50,000 sprites at national zoom, hazard symbols closer in).

import * as maplibregl from "maplibre-gl";
import { addHazardIcons } from "./icons.js";
import { LEVELS } from "./levels.js";
import { createPointLayer } from "./pointlayer.js";

maplibregl.setWorkerUrl(new URL("./maplibre-gl-worker.mjs", import.meta.url).href);

const CHINA = [[73.5, 18.0], [135.1, 53.6]];
const SYMBOL_ZOOM = 7;  // below: one WebGL sprite per point; from here: hazard symbols
const DETAIL_ZOOM = 6;  // from here: detailed province boundaries and the counties
const EMPTY = { type: "FeatureCollection", features: [] };

/** The symbol of a feature: its hazard's shape in its level's colour (see icons.js). */
function iconExpression(hazards) {
  return ["concat", ["match", ["get", "h"], ...hazards.flatMap((hazard, i) => [i, hazard]), "unknown"], "-",
          ["match", ["get", "l"], ...LEVELS.flatMap((level, i) => [i, level]), "none"]];
}

function provinceLayers(source, zooms, config) {
  return [
    { id: `${source}-fill`, type: "fill", source, ...zooms,
      paint: { "fill-color": "#f7f7f2", "fill-opacity": config.basemap_url ? 0.15 : 1 } },
    { id: `${source}-line`, type: "line", source, ...zooms,
      paint: { "line-color": "#5b6770", "line-width": ["interpolate", ["linear"], ["zoom"], 3, 0.6, 8, 1.6] } },
  ];
}

function baseStyle(config) {
  const sources = {
    // The first view draws the provinces simplified (a third of the vertices); the detailed
    // ones come with the counties, after it, for zoom 6 and closer (see addCounties).
    provinces: { type: "geojson", data: "/console/boundaries/provinces-overview.geojson" },
    points: { type: "geojson", data: EMPTY, buffer: 32 },  // tile pixels: the widest symbol
    candidates: { type: "geojson", data: EMPTY },
    selection: { type: "geojson", data: EMPTY },
  };
  const layers = [{ id: "background", type: "background", paint: { "background-color": "#dfe6ec" } }];
  if (config.basemap_url) {
    sources.basemap = { type: "raster", tiles: [config.basemap_url], tileSize: 256,
                        attribution: config.basemap_attribution ?? "" };
    layers.push({ id: "basemap", type: "raster", source: "basemap" });
  }
  layers.push(
    ...provinceLayers("provinces", { maxzoom: DETAIL_ZOOM }, config),
    { id: "candidate-fill", type: "fill", source: "candidates",
      paint: { "fill-color": "#8e44ad", "fill-opacity": 0.25 } },
    { id: "candidate-line", type: "line", source: "candidates",
      paint: { "line-color": "#8e44ad", "line-width": 2 } },
    { id: "points-symbol", type: "symbol", source: "points", minzoom: SYMBOL_ZOOM,
      layout: { "icon-image": iconExpression(config.hazards), "icon-allow-overlap": true,
                "icon-ignore-placement": true, "symbol-sort-key": ["get", "l"] } },
    { id: "selection", type: "circle", source: "selection",
      paint: { "circle-radius": 14, "circle-color": "rgba(0,0,0,0)", "circle-stroke-width": 3,
               "circle-stroke-color": "#111" } },
  );
  return { version: 8, sources, layers };
}

/** The map of the console; points come as the compact arrays of GET /console/points. */
export function createConsoleMap(container, { config, token, onPoint, onCandidate }) {
  const map = new maplibregl.Map({
    container, style: baseStyle(config), bounds: CHINA, attributionControl: { compact: true },
    transformRequest: (url) => (url.includes("/tiles/nowcast/") && token()
      ? { url, headers: { Authorization: `Bearer ${token()}` } } : { url }),
  });
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
  map.addControl(new maplibregl.ScaleControl(), "bottom-left");
  const loaded = new Promise((resolve) => map.once("load", resolve));
  loaded.then(() => performance.mark("geowarn:mapLoaded"));
  // The sources exist once the style is parsed: points can go to the worker before the
  // base layer has finished drawing.
  const styled = new Promise((resolve) => map.once("style.load", resolve));
  let points = null;     // the compact arrays
  let indexOf = null;  // point id -> index, built on first use (not on the first view's path)
  const pointIndex = (id) => (indexOf ??= new Map(points?.id.map((pid, i) => [pid, i]))).get(id);
  let symbolsLoaded = false;
  const sprites = createPointLayer({ id: "points-sprites", maxzoom: SYMBOL_ZOOM });

  styled.then(() => {
    addHazardIcons(map, config.hazards);
    map.addLayer(sprites.layer, "points-symbol");
  });

  /** The rainfall nowcast's tiles (behind auth: see transformRequest); after the first view. */
  async function addNowcast() {
    await loaded;
    map.addSource("nowcast", { type: "raster", tiles: [`${location.origin}/tiles/nowcast/{z}/{x}/{y}.png`],
                               tileSize: 256, maxzoom: 12 });
    map.addLayer({ id: "nowcast", type: "raster", source: "nowcast", paint: { "raster-opacity": 0.55 } },
                 map.getLayer("county-line") ? "county-line" : "provinces-line");  // under the borders
  }

  map.on("click", "points-symbol", (event) => onPoint?.(points.id[event.features[0].id]));
  map.on("mouseenter", "points-symbol", () => { map.getCanvas().style.cursor = "pointer"; });
  map.on("mouseleave", "points-symbol", () => { map.getCanvas().style.cursor = ""; });
  map.on("click", (event) => {
    const i = sprites.pick(event.point);
    if (i !== null) onPoint?.(points.id[i]);
  });
  map.on("mousemove", (event) => {
    if (map.getZoom() >= SYMBOL_ZOOM) return;
    map.getCanvas().style.cursor = sprites.pick(event.point) === null ? "" : "pointer";
  });
  map.on("click", "candidate-fill", (event) => onCandidate?.(event.features[0].properties.id));

  // Short property names: 50,000 features are cloned to the map's worker.
  function feature(i) {
    return { type: "Feature", id: i, geometry: { type: "Point", coordinates: [points.lon[i], points.lat[i]] },
             properties: { l: points.level[i], h: points.hazard[i], p: points.province[i], o: offline.has(i) ? 1 : 0 } };
  }
  let offline = new Set();

  /** Draw the points; resolves once the map has rendered them (idle after the data). */
  async function setPoints(data) {
    points = data;
    offline = new Set(data.offline);
    indexOf = null;
    await styled;
    sprites.setPoints(data.lon, data.lat, data.level);
    if (symbolsLoaded) loadSymbols();
    performance.mark("geowarn:pointsHandedOver");
    await new Promise((resolve) => {
      const check = () => {
        if (map.isSourceLoaded("points") && map.loaded()) resolve();
        else map.once("idle", check);
      };
      map.once("idle", check);
    });
  }

  /**
   * The hazard symbols (zoom 7 and closer): the points as a GeoJSON source, tiled in the
   * map's worker. Handed over after the first view, which does not need them.
   */
  function loadSymbols() {
    symbolsLoaded = true;
    if (points.hazards.length > config.hazards.length && !map.hasImage(`${points.hazards.at(-1)}-none`)) {
      addHazardIcons(map, points.hazards.slice(config.hazards.length));  // a type the page did not know
      map.setLayoutProperty("points-symbol", "icon-image", iconExpression(points.hazards));
    }
    const features = new Array(points.count);
    for (let i = 0; i < points.count; i += 1) features[i] = feature(i);
    map.getSource("points").setData({ type: "FeatureCollection", features });
  }

  /** A live change of one point's level (a warning event). */
  function setLevel(pointId, level) {
    const i = pointIndex(pointId);
    if (i === undefined || !points) return false;
    points.level[i] = Math.max(0, LEVELS.indexOf(level));
    sprites.setLevel(i, points.level[i]);
    if (symbolsLoaded) {
      map.getSource("points").updateData({ update: [{ id: i, addOrUpdateProperties:
        Object.entries(feature(i).properties).map(([key, value]) => ({ key, value })) }] });
    }
    return true;
  }

  function setFilter({ levels, hazards, province, offlineOnly }) {
    const levelCodes = levels.map((level) => LEVELS.indexOf(level));
    const hazardCodes = hazards.map((hazard) => points.hazards.indexOf(hazard));
    const provinceCode = province ? points.provinces.indexOf(province) : null;
    const mask = new Uint8Array(points.count);
    const levelOk = new Set(levelCodes), hazardOk = new Set(hazardCodes);
    for (let i = 0; i < points.count; i += 1) {
      mask[i] = levelOk.has(points.level[i]) && hazardOk.has(points.hazard[i])
        && (provinceCode === null || points.province[i] === provinceCode)
        && (!offlineOnly || offline.has(i)) ? 1 : 0;
    }
    sprites.setVisible(mask);
    const clauses = ["all", ["in", ["get", "l"], ["literal", levelCodes]], ["in", ["get", "h"], ["literal", hazardCodes]]];
    if (provinceCode !== null) clauses.push(["==", ["get", "p"], provinceCode]);
    if (offlineOnly) clauses.push(["==", ["get", "o"], 1]);
    map.setFilter("points-symbol", clauses);
  }

  function select(lonLat) {
    map.getSource("selection")?.setData(lonLat ? { type: "FeatureCollection", features: [
      { type: "Feature", geometry: { type: "Point", coordinates: lonLat }, properties: {} }] } : EMPTY);
  }

  function flyTo(lonLat, zoom = 9) {
    map.flyTo({ center: lonLat, zoom: Math.max(map.getZoom(), zoom), speed: 1.6 });
  }

  async function setCandidates(collection) {
    await loaded;
    map.getSource("candidates").setData(collection);
  }

  /** Counties (2,875 polygons) and the detailed provinces: loaded after the first view. */
  async function addCounties() {
    await loaded;
    map.addSource("provinces-detail", { type: "geojson", data: "/console/boundaries/provinces.geojson" });
    const [fill, line] = provinceLayers("provinces-detail", { minzoom: DETAIL_ZOOM }, config);
    map.addLayer(fill, "provinces-line");
    map.addSource("counties", { type: "geojson", data: "/console/boundaries/counties.geojson" });
    map.addLayer({ id: "county-line", type: "line", source: "counties", minzoom: DETAIL_ZOOM,
                   paint: { "line-color": "#9aa5ad", "line-width": 0.6, "line-dasharray": [2, 1] } },
                 "provinces-line");
    map.addLayer(line, "candidate-fill");
  }

  function fitProvinces(adcodes) {
    const provinces = map.getSource("provinces");
    provinces.getData().then((collection) => {
      const bounds = new maplibregl.LngLatBounds();
      for (const f of collection.features) {
        if (!adcodes.includes(f.properties.adcode)) continue;
        const rings = f.geometry.type === "Polygon" ? [f.geometry.coordinates] : f.geometry.coordinates;
        for (const polygon of rings) for (const [lon, lat] of polygon[0]) bounds.extend([lon, lat]);
      }
      if (!bounds.isEmpty()) map.fitBounds(bounds, { padding: 30, duration: 0 });
    });
  }

  async function provinceNames() {
    await loaded;
    const collection = await map.getSource("provinces").getData();
    return Object.fromEntries(collection.features.map((f) => [f.properties.adcode, f.properties.name]));
  }

  return { map, loaded, setPoints, setLevel, setFilter, select, flyTo, setCandidates, addCounties, addNowcast,
           loadSymbols, pointStats: () => sprites.stats(),
           fitProvinces, provinceNames, pointIndex, points: () => points };
}
