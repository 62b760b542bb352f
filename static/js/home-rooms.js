// Home page room cards: when their last message came (relative, kept fresh), and the search
// box that filters them by name or topic as the person types. Its own module, so that the
// create-room form's handler (home.js) is not held up by the time formatting import.
import { fullDate, relativeTime } from "./time.js";

// --- room cards: relative times of the last messages ----------------------------------------

function renderTimes() {
  const now = new Date();
  for (const time of document.querySelectorAll(".room-preview time[datetime]")) {
    const date = new Date(time.dateTime);
    if (Number.isNaN(date.getTime())) continue;
    time.textContent = relativeTime(date, now);
    time.title = fullDate(date);
  }
}

renderTimes();
setInterval(renderTimes, 30 * 1000);

// --- search: filter the room cards by name or topic as the person types -----------------------

const search = document.getElementById("room-search");
const noMatch = document.getElementById("room-search-empty");
const cards = [...document.querySelectorAll(".room-list[data-searchable] > li")].map((item) => ({
  item,
  text: [".room-name", ".room-topic"]
    .map((selector) => item.querySelector(selector)?.textContent ?? "")
    .join(" ")
    .toLocaleLowerCase(),
}));

function filterRooms() {
  const words = search.value.trim().toLocaleLowerCase().split(/\s+/).filter(Boolean);
  let shown = 0;
  for (const { item, text } of cards) {
    const match = words.every((word) => text.includes(word));
    item.hidden = !match;
    if (match) shown += 1;
  }
  for (const list of document.querySelectorAll(".room-list[data-searchable]")) {
    list.hidden = words.length > 0 && !list.querySelector(":scope > li:not([hidden])");
  }
  const nothing = words.length > 0 && shown === 0;
  noMatch.textContent = nothing ? `No rooms match “${search.value.trim()}”.` : "";
  noMatch.hidden = !nothing;
}

search?.addEventListener("input", filterRooms);
search?.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && search.value) {
    search.value = "";
    filterRooms();
  }
});
if (search?.value) filterRooms(); // the browser restored a query (back/forward)
