// Builds the console into dist/: one ES-module bundle (our modules, MapLibre GL JS
// and uPlot), its stylesheet, MapLibre's worker (loaded next to the bundle) and
// the page. `make install` runs it after `npm ci`; the API serves dist/.
import { cp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { gzipSync } from "node:zlib";
import * as esbuild from "esbuild";

const out = "dist";
await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
await esbuild.build({
  entryPoints: ["src/main.js"],
  bundle: true,
  format: "esm",
  minify: true,
  sourcemap: "linked",
  target: ["chrome110", "firefox115", "safari16"],
  outfile: `${out}/console.js`,
  legalComments: "linked",
  logLevel: "info",
});
await cp("node_modules/maplibre-gl/dist/maplibre-gl-worker.mjs", `${out}/maplibre-gl-worker.mjs`);
await cp("src/index.html", `${out}/index.html`);
// Gzipped twins, sent to browsers that accept them (1.7 MB of code becomes about 0.5 MB).
for (const name of ["console.js", "console.css", "maplibre-gl-worker.mjs"]) {
  await writeFile(`${out}/${name}.gz`, gzipSync(await readFile(`${out}/${name}`), { level: 9 }));
}
