// A person's colour in the notes (caret, name label, selection): the same hue ui.js gives their
// avatar everywhere else, as hex so y-codemirror can add an alpha channel for selections.
import { hueFor } from "../ui.js";

function hslToHex(h, s, l) {
  const a = s * Math.min(l, 1 - l);
  const channel = (n) => {
    const k = (n + h / 30) % 12;
    const value = l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1));
    return Math.round(value * 255)
      .toString(16)
      .padStart(2, "0");
  };
  return `#${channel(0)}${channel(8)}${channel(4)}`;
}

/** {color, colorLight} for awareness: a caret colour readable on light and dark, and a tint. */
export function userColors(username) {
  const color = hslToHex(hueFor(username), 0.68, 0.46);
  return { color, colorLight: `${color}40` };
}
