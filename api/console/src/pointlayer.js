// Every risk point as one WebGL point sprite in a MapLibre custom layer: 50,000 points
// are one buffer and one draw call, with no tiling in the map's worker. Used below the
// zoom where hazard symbols take over; picking is a scan in Mercator space.

import { COLOUR, LEVELS } from "./levels.js";

const VERTEX = `
uniform mat4 u_matrix;
uniform float u_zoom_t;
uniform float u_ratio;
attribute vec2 a_pos;
attribute float a_level;
varying float v_level;
varying float v_radius;
void main() {
  v_level = a_level;
  float radius = mix(1.6 + 0.9 * a_level, 4.0 + a_level, u_zoom_t) * u_ratio;
  v_radius = radius;
  gl_PointSize = 2.0 * radius + 2.0;
  gl_Position = u_matrix * vec4(a_pos, 0.0, 1.0);
}`;

const FRAGMENT = `
precision mediump float;
uniform vec3 u_colours[5];
varying float v_level;
varying float v_radius;
void main() {
  float size = 2.0 * v_radius + 2.0;
  float d = length(gl_PointCoord - 0.5) * size;   // pixels from the centre
  float alpha = clamp(v_radius + 0.5 - d, 0.0, 1.0);
  if (alpha <= 0.0) discard;
  vec3 colour = u_colours[0];
  for (int i = 1; i < 5; i++) { if (abs(v_level - float(i)) < 0.5) colour = u_colours[i]; }
  // Orange and red get a white rim so that they stand out of a dense cloud.
  if (v_level > 2.5 && d > v_radius - 1.0) colour = vec3(1.0);
  gl_FragColor = vec4(colour * alpha, alpha);
}`;

function rgb(hex) {
  return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255);
}

function compile(gl, type, source) {
  const shader = gl.createShader(type);
  gl.shaderSource(shader, source);
  gl.compileShader(shader);
  if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(shader));
  return shader;
}

export const mercatorX = (lon) => (lon + 180) / 360;
export const mercatorY = (lat) => {
  const s = Math.sin((lat * Math.PI) / 180);
  return 0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI);
};

/** `maxzoom`: drawn below it. Points are set as arrays (lon, lat, level) plus a visibility mask. */
export function createPointLayer({ id, maxzoom }) {
  let map = null, gl = null, program = null, buffer = null, locations = null;
  let x = new Float32Array(0), y = new Float32Array(0), level = new Uint8Array(0), visible = new Uint8Array(0);
  let count = 0, dirty = true, drawn = 0;

  function upload() {
    // Interleaved [x, y, level], lowest level first so that red is drawn on top.
    const order = [];
    for (let l = 0; l < LEVELS.length; l += 1) {
      for (let i = 0; i < count; i += 1) if (visible[i] && level[i] === l) order.push(i);
    }
    const data = new Float32Array(order.length * 3);
    order.forEach((i, k) => { data[3 * k] = x[i]; data[3 * k + 1] = y[i]; data[3 * k + 2] = level[i]; });
    gl.bindBuffer(gl.ARRAY_BUFFER, buffer);
    gl.bufferData(gl.ARRAY_BUFFER, data, gl.DYNAMIC_DRAW);
    drawn = order.length;
    dirty = false;
  }

  const layer = {
    id, type: "custom", renderingMode: "2d",
    onAdd(m, context) {
      map = m; gl = context;
      program = gl.createProgram();
      gl.attachShader(program, compile(gl, gl.VERTEX_SHADER, VERTEX));
      gl.attachShader(program, compile(gl, gl.FRAGMENT_SHADER, FRAGMENT));
      gl.linkProgram(program);
      if (!gl.getProgramParameter(program, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(program));
      locations = Object.fromEntries(["u_matrix", "u_zoom_t", "u_ratio", "u_colours"].map(
        (name) => [name, gl.getUniformLocation(program, name)]));
      locations.a_pos = gl.getAttribLocation(program, "a_pos");
      locations.a_level = gl.getAttribLocation(program, "a_level");
      buffer = gl.createBuffer();
      dirty = true;
    },
    onRemove() { gl.deleteBuffer(buffer); gl.deleteProgram(program); },
    render(context, options) {
      if (!count || map.getZoom() >= maxzoom) return;
      if (dirty) upload();
      gl.useProgram(program);
      gl.uniformMatrix4fv(locations.u_matrix, false, options.defaultProjectionData.mainMatrix);
      gl.uniform1f(locations.u_zoom_t, Math.min(1, Math.max(0, (map.getZoom() - 3) / (maxzoom - 3))));
      gl.uniform1f(locations.u_ratio, window.devicePixelRatio || 1);
      gl.uniform3fv(locations.u_colours, LEVELS.flatMap((l) => rgb(COLOUR[l])));
      gl.bindBuffer(gl.ARRAY_BUFFER, buffer);
      gl.enableVertexAttribArray(locations.a_pos);
      gl.vertexAttribPointer(locations.a_pos, 2, gl.FLOAT, false, 12, 0);
      gl.enableVertexAttribArray(locations.a_level);
      gl.vertexAttribPointer(locations.a_level, 1, gl.FLOAT, false, 12, 8);
      gl.enable(gl.BLEND);
      gl.blendFunc(gl.ONE, gl.ONE_MINUS_SRC_ALPHA);  // premultiplied, as MapLibre draws
      gl.disable(gl.DEPTH_TEST);
      gl.drawArrays(gl.POINTS, 0, drawn);
      gl.disableVertexAttribArray(locations.a_level);
    },
  };

  return {
    layer,
    setPoints(lon, lat, levels) {
      count = lon.length;
      x = Float32Array.from(lon, mercatorX);
      y = Float32Array.from(lat, mercatorY);
      level = Uint8Array.from(levels);
      visible = new Uint8Array(count).fill(1);
      dirty = true;
      map?.triggerRepaint();
    },
    setLevel(i, value) { level[i] = value; dirty = true; map?.triggerRepaint(); },
    setVisible(mask) { visible = mask; dirty = true; map?.triggerRepaint(); },
    /** The index of the visible point nearest to a screen position, within `pixels`. */
    pick(point, pixels = 6) {
      if (!count || map.getZoom() >= maxzoom) return null;
      const at = map.unproject(point);
      const px = mercatorX(at.lng), py = mercatorY(at.lat);
      const unit = 1 / (512 * 2 ** map.getZoom());  // Mercator units per CSS pixel
      let best = null, bestD = (pixels * unit) ** 2;
      for (let i = 0; i < count; i += 1) {
        if (!visible[i]) continue;
        const dx = x[i] - px, dy = y[i] - py, d = dx * dx + dy * dy;
        if (d <= bestD) { best = i; bestD = d; }
      }
      return best;
    },
    /** Visible points inside the current view, and how many were drawn in the last frame. */
    stats() {
      const b = map.getBounds();
      let inView = 0;
      const x0 = mercatorX(b.getWest()), x1 = mercatorX(b.getEast());
      const y0 = mercatorY(b.getNorth()), y1 = mercatorY(b.getSouth());
      for (let i = 0; i < count; i += 1) if (visible[i] && x[i] >= x0 && x[i] <= x1 && y[i] >= y0 && y[i] <= y1) inView += 1;
      return { inView, drawn: map.getZoom() < maxzoom ? drawn : 0 };
    },
  };
}
