// The room page's notes pane (templates/chat/_notes.html): beside the conversation on wide
// screens (the "Notes" toggle in the room's header), a Messages | Notes tab switch on phones.
// Bundled with the other pages (build.mjs) into static/dist/notes/: this entry loads on every room
// page; the editor (CodeMirror, Yjs, y-websocket: ./session.js, a separate chunk) and its socket
// start the first time the pane opens.
import { toast } from "../toast.js";
import { el, hueFor } from "../ui.js";
import { setUpVersions } from "./versions.js";

const STORAGE_KEY = "switchboard.notes.open";

const layout = document.getElementById("room-layout");
const pane = document.getElementById("notes-pane");
const switcher = document.getElementById("notes-switch");
const toggle = document.getElementById("notes-toggle");
const messagesTab = document.getElementById("notes-tab-messages");
const notesTab = document.getElementById("notes-tab-notes");
const tabs = [messagesTab, notesTab];
const closeButton = document.getElementById("notes-close");
const conn = document.getElementById("notes-conn");
const peers = document.getElementById("notes-peers");
const notice = document.getElementById("notes-notice");
const foot = document.getElementById("notes-foot");
const host = document.getElementById("notes-editor");
const username = JSON.parse(document.getElementById("me").textContent);
const archived = pane.dataset.archived === "1";
// Only members change the notes (chat.policy); a visitor of a public room reads them.
const visitor = JSON.parse(document.getElementById("room-data")?.textContent ?? "{}").is_member === false;
const footText = foot.textContent;

let session = null;
let starting = null; // the promise of the session while its chunk loads
let open = false;

const ENDED_NOTICES = {
  4001: "You were signed out. Log in again to keep editing the notes.",
  4003: "Your access to this room ended. The notes are read-only now.",
  4008: "The server closed the notes connection. Reload the page to edit again.",
  1009: "The notes are too large to sync from this page. Reload to get the current text.",
  4009: "The notes are too large to sync from this page. Reload to get the current text.",
  4010: "Your last change was not saved: the notes are at their size limit. Reload the page to go on from the saved notes.",
};

// The switch lives in the room's header, before the connection pill; the messages area is what
// the Messages tab shows.
const head = document.querySelector(".chat-head");
if (head) head.insertBefore(switcher, document.getElementById("conn-state"));
switcher.hidden = false;
const messagesArea = document.querySelector(".messages-area");
if (messagesArea) {
  messagesArea.id ||= "room-messages-area";
  messagesTab.setAttribute("aria-controls", messagesArea.id);
}

function remembered() {
  try {
    return localStorage.getItem(STORAGE_KEY) === "1";
  } catch {
    return false;
  }
}

function remember(value) {
  try {
    localStorage.setItem(STORAGE_KEY, value ? "1" : "0");
  } catch {
    // Private mode: the pane simply starts closed next time.
  }
}

function setOpen(value, { focusEditor = false } = {}) {
  open = value;
  layout.classList.toggle("notes-open", open);
  pane.hidden = !open;
  toggle.setAttribute("aria-expanded", String(open));
  for (const tab of tabs) {
    const selected = (tab === notesTab) === open;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
  }
  remember(open);
  if (open) {
    starting ??= start();
    if (focusEditor) starting.then(() => open && session?.focus());
  }
}

async function start() {
  let startSession;
  let MAX_INSERT_CHARS;
  try {
    ({ startSession, MAX_INSERT_CHARS } = await import("./session.js"));
  } catch {
    starting = null; // try again the next time the pane opens
    showStatus({ state: "offline", text: "Not loaded" });
    showNotice("The editor could not be loaded. Check your connection and open the notes again.", "danger");
    return;
  }
  showNotice("");
  session = startSession({
    parent: host,
    slug: pane.dataset.slug,
    username,
    readOnly: archived || visitor,
    onStatus: showStatus,
    onPeers: showPeers,
    onTooLarge: () =>
      toast({
        title: "That change is too large for the shared notes",
        body: `Add at most ${MAX_INSERT_CHARS.toLocaleString()} characters at a time.`,
        tone: "error",
      }),
  });
  if (archived) showNotice("This room is archived: its notes are read-only.");
  else if (visitor) showNotice("Join the room to edit its notes.");
}

function showNotice(text, tone = "info") {
  notice.textContent = text;
  notice.dataset.tone = tone;
  notice.hidden = !text;
}

function showStatus({ state, text }) {
  conn.dataset.state = state;
  conn.textContent = text;
  if (state === "ended") {
    showNotice(ENDED_NOTICES[session?.ended] ?? "The notes are read-only now.", "danger");
    foot.hidden = true;
    return;
  }
  foot.hidden = false;
  foot.textContent =
    state === "offline" || state === "reconnecting"
      ? "Keep writing: your edits are kept on this page and merge when the connection is back."
      : footText;
  foot.dataset.tone = state === "offline" || state === "reconnecting" ? "warn" : "";
}

function showPeers(names) {
  peers.replaceChildren(
    ...names.map((name) => {
      const item = el("li", "notes-peer");
      item.title = name;
      const avatar = el("span", "avatar");
      avatar.setAttribute("aria-hidden", "true");
      avatar.dataset.initial = name.slice(0, 1).toUpperCase();
      avatar.style.setProperty("--hue", hueFor(name));
      item.append(avatar, el("span", "visually-hidden", name));
      return item;
    }),
  );
}

toggle.addEventListener("click", () => setOpen(!open, { focusEditor: !open }));
closeButton.addEventListener("click", () => {
  setOpen(false);
  (toggle.offsetParent ? toggle : messagesTab).focus();
});
for (const tab of tabs) {
  tab.addEventListener("click", () => setOpen(tab === notesTab));
  tab.addEventListener("keydown", (event) => {
    const index = tabs.indexOf(tab);
    const next = {
      ArrowLeft: tabs[(index + tabs.length - 1) % tabs.length],
      ArrowRight: tabs[(index + 1) % tabs.length],
      Home: tabs[0],
      End: tabs[tabs.length - 1],
    }[event.key];
    if (!next) return;
    event.preventDefault();
    setOpen(next === notesTab);
    next.focus();
  });
}

setUpVersions({
  button: pane.dataset.versions === "1" ? document.getElementById("notes-versions-button") : null,
  slug: pane.dataset.slug,
});

setOpen(remembered());
