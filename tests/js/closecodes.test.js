// The browser's close-code table mirrors realtime/closecodes.py (static/js/closecodes.js).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { CloseCode, ENDS_NOTES, FINAL, RESUMABLE, TOO_BIG, closeInfo, knownCodes } from "../../static/js/closecodes.js";

const python = readFileSync(new URL("../../realtime/closecodes.py", import.meta.url), "utf8");
const serverCodes = new Map([...python.matchAll(/^\s+([A-Z_]+) = (\d+)$/gm)].map((m) => [m[1], Number(m[2])]));

test("every code the server sends is in the table, under the same name", () => {
  assert.ok(serverCodes.size >= 6, "read the codes from realtime/closecodes.py");
  for (const [name, code] of serverCodes) {
    assert.equal(CloseCode[name], code, name);
    assert.ok(knownCodes().includes(code), `${name} ${code} has wording`);
  }
});

test("the resumable codes are the server's", () => {
  const body = python.slice(python.indexOf("def resumable"));
  const names = [...body.matchAll(/CloseCode\.([A-Z_]+)/g)].map((m) => m[1]);
  assert.deepEqual([...RESUMABLE].sort(), names.map((name) => CloseCode[name]).sort());
});

test("4001, 4003 and 4008 end a socket for good; nothing else does", () => {
  assert.deepEqual([...FINAL].sort(), [4001, 4003, 4008]);
  assert.deepEqual([...RESUMABLE].sort(), [4011, 4013]);
  assert.deepEqual([...TOO_BIG].sort(), [1009, 4009]);
});

test("the notes socket also stops on a frame too large and on a refused update", () => {
  assert.deepEqual([...ENDS_NOTES].sort(), [1009, 4001, 4003, 4008, 4009, 4010]);
});

test("every code has a label and a sentence; an unknown code is neither final nor resumable", () => {
  for (const code of knownCodes()) {
    const info = closeInfo(code);
    assert.ok(info.label && info.text, code);
  }
  assert.deepEqual([closeInfo(1006).final, closeInfo(1006).resumable], [false, false]);
});
