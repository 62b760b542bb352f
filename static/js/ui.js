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

// Icons are inline SVG built from path data (no markup strings): stroked, 24x24, currentColor.
const SVG = "http://www.w3.org/2000/svg";
export const ICONS = {
  dots: ["M5 12h.01M12 12h.01M19 12h.01"],
  close: ["M6 6l12 12M18 6 6 18"],
  bell: ["M6 16V11a6 6 0 1 1 12 0v5l1.5 2h-15L6 16Z", "M10 20.5a2.2 2.2 0 0 0 4 0"],
  shield: ["M12 3 5 6v5c0 4.5 3 8.3 7 10 4-1.7 7-5.5 7-10V6l-7-3Z"],
  up: ["M12 19V5m-6 6 6-6 6 6"],
  alert: ["M12 8v5m0 3.5h.01", "M10.3 3.9 2.4 17.6A2 2 0 0 0 4.1 20.6h15.8a2 2 0 0 0 1.7-3L13.7 3.9a2 2 0 0 0-3.4 0Z"],
  mute: ["M11 5 6 9H3v6h3l5 4V5Z", "M22 9l-6 6m0-6 6 6"],
  at: ["M16 12a4 4 0 1 1-8 0 4 4 0 0 1 8 0Zm0 0v1.5a2.5 2.5 0 0 0 5 0V12a9 9 0 1 0-3.5 7.1"],
  check: ["M5 12.5 10 17.5 19 7"],
};

export function icon(name, size = 18) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "icon");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", size);
  svg.setAttribute("height", size);
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  for (const d of ICONS[name]) {
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", d);
    path.setAttribute("fill", "none");
    path.setAttribute("stroke", "currentColor");
    path.setAttribute("stroke-width", name === "dots" ? "3" : "2");
    path.setAttribute("stroke-linecap", "round");
    path.setAttribute("stroke-linejoin", "round");
    svg.append(path);
  }
  return svg;
}

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}
