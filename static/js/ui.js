// Small helpers shared by every page. Elements with data-hue-key get a stable colour (--hue)
// derived from the key, so a person's avatar looks the same everywhere.

export function hueFor(key) {
  // FNV-1a, then one of ten well-separated hues.
  let hash = 0x811c9dc5;
  for (const char of String(key)) {
    hash ^= char.codePointAt(0);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return (hash % 10) * 36;
}

export function applyHues(root = document) {
  for (const node of root.querySelectorAll("[data-hue-key]")) {
    node.style.setProperty("--hue", hueFor(node.dataset.hueKey));
  }
}

applyHues();
