// Each browser module owns one part of a page and stays small enough to read in one sitting
// (issue 13): none in static/js may pass 400 lines. Split a module before it does.
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const MAX_LINES = 400;
const root = fileURLToPath(new URL("../../static/js/", import.meta.url));

function modules(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return modules(path);
    return entry.name.endsWith(".js") ? [path] : [];
  });
}

test(`no module in static/js is over ${MAX_LINES} lines`, () => {
  const found = modules(root);
  assert.ok(found.length > 10, "found the modules");
  const long = found
    .map((path) => [path.slice(root.length), readFileSync(path, "utf8").split("\n").length - 1])
    .filter(([, lines]) => lines > MAX_LINES);
  assert.deepEqual(long, []);
});
