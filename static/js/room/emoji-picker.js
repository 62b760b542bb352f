// The reaction picker: a small popup with a filter box and a grid of emoji, from the
// unicode-emoji-json data (npm), which the build makes a chunk of its own, served by the app
// itself (no CDN) and fetched the first time the picker opens.
// Keyboard: arrows move in the grid, Home/End, Enter or Space picks, Escape closes; focus goes
// back to the button that opened it.
import { el } from "../ui.js";

const COLUMNS = 8;
const SHOWN = 64;

let all = null; // [{emoji, name}], loaded once
let popup = null;

async function emojiList() {
  if (!all) {
    const { default: groups } = await import("unicode-emoji-json/data-by-group.json");
    all = groups.flatMap((group) => group.emojis.map(({ emoji, name }) => ({ emoji, name })));
  }
  return all;
}

export function closePicker({ restoreFocus = true } = {}) {
  if (!popup) return;
  const { node, opener } = popup;
  popup = null;
  node.remove();
  document.removeEventListener("pointerdown", outside, true);
  if (restoreFocus && opener.isConnected) opener.focus();
}

function outside(event) {
  if (popup && !popup.node.contains(event.target) && event.target !== popup.opener)
    closePicker({ restoreFocus: false });
}

function moveIn(grid, from, key) {
  const cells = [...grid.querySelectorAll("[role=gridcell]")];
  const at = cells.indexOf(from);
  const to = {
    ArrowRight: at + 1,
    ArrowLeft: at - 1,
    ArrowDown: at + COLUMNS,
    ArrowUp: at - COLUMNS,
    Home: 0,
    End: cells.length - 1,
  }[key];
  if (to === undefined) return false;
  if (to < 0 && key === "ArrowUp") return grid.closest(".emoji-picker").querySelector("input").focus() || true;
  const target = cells[Math.max(0, Math.min(cells.length - 1, to))];
  for (const cell of cells) cell.tabIndex = cell === target ? 0 : -1;
  target?.focus();
  return true;
}

function fill(grid, list, pick) {
  const rows = [];
  list.slice(0, SHOWN).forEach((item, index) => {
    if (index % COLUMNS === 0) {
      rows.push(el("div", "emoji-row"));
      rows.at(-1).setAttribute("role", "row");
    }
    const cell = el("button", "emoji-cell", item.emoji);
    cell.type = "button";
    cell.setAttribute("role", "gridcell");
    cell.setAttribute("aria-label", item.name);
    cell.title = item.name;
    cell.tabIndex = index === 0 ? 0 : -1;
    cell.addEventListener("click", () => pick(item.emoji));
    rows.at(-1).append(cell);
  });
  grid.replaceChildren(...rows);
  if (!rows.length) grid.append(el("p", "muted small", "No emoji match."));
}

/** Open the picker under `opener`; `onPick(emoji)` runs when one is chosen. */
export async function openPicker(opener, onPick) {
  closePicker({ restoreFocus: false });
  const node = el("div", "emoji-picker");
  node.setAttribute("role", "dialog");
  node.setAttribute("aria-label", "Pick a reaction");
  const filter = el("input", "emoji-filter");
  filter.type = "search";
  filter.placeholder = "Find an emoji";
  filter.setAttribute("aria-label", "Find an emoji");
  const grid = el("div", "emoji-grid");
  grid.setAttribute("role", "grid");
  grid.setAttribute("aria-label", "Emoji");
  node.append(filter, grid);
  popup = { node, opener };
  opener.after(node);
  document.addEventListener("pointerdown", outside, true);
  const pick = (emoji) => {
    closePicker();
    onPick(emoji);
  };
  let list = [];
  const refill = () => {
    const words = filter.value.trim().toLowerCase();
    fill(grid, words ? list.filter((item) => item.name.includes(words)) : list, pick);
  };
  filter.addEventListener("input", refill);
  node.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      closePicker();
    } else if (event.target === filter && (event.key === "ArrowDown" || event.key === "Enter")) {
      event.preventDefault();
      grid.querySelector("[role=gridcell]")?.focus();
    } else if (event.target.getAttribute("role") === "gridcell" && moveIn(grid, event.target, event.key)) {
      event.preventDefault();
    }
  });
  filter.focus(); // type to find one, or Down into the grid
  try {
    list = await emojiList();
  } catch {
    grid.append(el("p", "muted small", "The emoji could not be loaded."));
    return;
  }
  if (popup?.node === node) refill(); // unless closed meanwhile
}
