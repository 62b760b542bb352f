// The page scripts, bundled by esbuild into static/dist/ (`npm run build`; generated, not
// committed): each page loads a handful of files instead of fifty modules one by one, and the
// modules pages share (ui.js, api.js, the socket...) land in shared chunks, so they stay one
// instance per page. Entries keep their path under static/js: a template's
// `{% static 'dist/room.js' %}` is the bundle of static/js/room.js. Code loaded on demand (the
// notes session, the fleet map, the emoji list) becomes chunks of its own, fetched when used.
import { cp, mkdir, rm } from "node:fs/promises";

import * as esbuild from "esbuild";

const OUT = "static/dist";

// The module each template loads (templates/**.html), by its path under static/js.
const PAGES = [
  // every page (base.html)
  "ui",
  "notifications",
  "search",
  // home
  "home",
  "dm-open",
  "home-rooms",
  "dashboard-create",
  // a room, its settings, its game button and its notes
  "room",
  "room-settings",
  "room/play",
  "notes/editor",
  // dashboards, alert channels, a game
  "dashboard",
  "alert-channels",
  "game",
];

await rm(OUT, { recursive: true, force: true });
await esbuild.build({
  entryPoints: PAGES.map((page) => `static/js/${page}.js`),
  outbase: "static/js",
  outdir: OUT,
  bundle: true,
  splitting: true,
  format: "esm",
  target: "es2022",
  minify: true,
  sourcemap: true,
  chunkNames: "chunks/[name]-[hash]",
  logLevel: "warning",
});
// Files the map panel reads beside its chunk (new URL(..., import.meta.url)) and its style.
await mkdir(`${OUT}/chunks`, { recursive: true });
await cp("node_modules/world-atlas/countries-50m.json", `${OUT}/chunks/countries-50m.json`);
await mkdir(`${OUT}/leaflet`, { recursive: true });
await cp("node_modules/leaflet/dist/leaflet.css", `${OUT}/leaflet/leaflet.css`);
