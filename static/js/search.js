// The message search box in the page header: typing (debounced) asks /api/search/ and lists the
// hits with their highlighted snippets; choosing one opens its room at that message. Arrow keys
// move between the input and the hits, Escape closes the list.
import { api } from "./api.js";
import { debounce, highlightParts, hitUrl } from "./search-highlight.js";
import { el } from "./ui.js";

const box = document.getElementById("message-search");
const input = document.getElementById("message-search-input");
const panel = document.getElementById("message-search-results");
const list = document.getElementById("message-search-list");
const status = document.getElementById("message-search-status");
let asked = 0; // answers to older queries that arrive late are dropped

function snippet(hit) {
  const text = el("span", "search-snippet");
  for (const part of highlightParts(hit.highlight || hit.message.body)) {
    text.append(part.mark ? el("mark", "", part.text) : document.createTextNode(part.text));
  }
  return text;
}

function render(hits, q) {
  list.replaceChildren();
  for (const hit of hits) {
    const link = el("a", "search-hit");
    link.href = hitUrl(hit);
    link.append(
      el("span", "search-room", `#${hit.room.name}`),
      el("span", "search-author", hit.message.author.username),
      snippet(hit),
    );
    const item = el("li");
    item.append(link);
    list.append(item);
  }
  status.textContent = hits.length
    ? `${hits.length} message${hits.length === 1 ? "" : "s"} found`
    : `No messages match “${q}”.`;
  open(true);
}

function open(show) {
  panel.hidden = !show;
  input.setAttribute("aria-expanded", String(show));
}

const search = debounce(async (q) => {
  const mine = ++asked;
  if (!q.trim()) {
    open(false);
    return;
  }
  const { ok, data, error } = await api("GET", `/api/search/?${new URLSearchParams({ q, limit: 20 })}`);
  if (mine !== asked) return;
  if (!ok) {
    list.replaceChildren();
    status.textContent = error;
    open(true);
    return;
  }
  render(data, q);
}, 250);

function links() {
  return [...list.querySelectorAll("a")];
}

if (box) {
  input.addEventListener("input", () => search(input.value));
  input.addEventListener("focus", () => {
    if (input.value.trim() && list.children.length) open(true);
  });
  box.addEventListener("keydown", (event) => {
    const all = links();
    const at = all.indexOf(document.activeElement);
    if (event.key === "Escape") {
      open(false);
      input.focus();
    } else if (event.key === "ArrowDown" && all.length) {
      event.preventDefault();
      all[Math.min(at + 1, all.length - 1)].focus();
    } else if (event.key === "ArrowUp" && at >= 0) {
      event.preventDefault();
      (at === 0 ? input : all[at - 1]).focus();
    }
  });
  // The same page (a hit in the room one is in) only changes the hash: close the list.
  list.addEventListener("click", () => open(false));
  document.addEventListener("click", (event) => {
    if (!box.contains(event.target)) open(false);
  });
}
