// Notifications on every logged-in page: the bell in the top bar with the unread count, its
// dropdown list, toasts for new ones, and desktop notifications once the person allows them.
// The count and list come from GET /api/notifications/ and stay live over /ws/notifications/.
import { api } from "./api.js";
import { CloseCode } from "./closecodes.js";
import { LiveSocket } from "./socket.js";
import { fullDate, relativeTime } from "./time.js";
import { toast } from "./toast.js";
import { el, icon } from "./ui.js";

const SHOWN = 30; // newest notifications in the dropdown
const KIND_ICON = { mention: "at", "alert.firing": "alert", "alert.resolved": "check" };

const root = document.getElementById("notif");
if (root && !window.switchboardNotifications) {
  window.switchboardNotifications = true;
  start(root);
}

function start(root) {
  const button = root.querySelector("#notif-button");
  const badge = root.querySelector("#notif-count");
  const panel = root.querySelector("#notif-panel");
  const list = root.querySelector("#notif-list");
  const empty = root.querySelector("#notif-empty");
  const markAllButton = root.querySelector("#notif-mark-all");
  const desktopButton = root.querySelector("#notif-desktop");
  const desktopNote = root.querySelector("#notif-desktop-note");

  const byId = new Map(); // id -> notification, newest first by insertion below
  let order = []; // ids, newest first
  const unread = new Set();
  let moreUnread = false; // the server listed 100 unread: there may be more
  const readHere = new Set(); // read while the dropdown is open: still highlighted until it closes

  // --- the count --------------------------------------------------------------------------

  function renderBadge() {
    const n = unread.size;
    badge.hidden = n === 0;
    badge.textContent = n > 99 || moreUnread ? "99+" : String(n);
    button.setAttribute("aria-label", n ? `Notifications, ${n}${moreUnread ? "+" : ""} unread` : "Notifications");
    root.classList.toggle("has-unread", n > 0);
  }

  function remember(notification, { front = false } = {}) {
    const known = byId.has(notification.id);
    byId.set(notification.id, notification);
    if (!known) {
      if (front) order.unshift(notification.id);
      else order.push(notification.id);
    }
    if (notification.read_at) unread.delete(notification.id);
    else unread.add(notification.id);
  }

  async function refresh() {
    const [all, unreadOnly] = await Promise.all([
      api("GET", "/api/notifications/"),
      api("GET", "/api/notifications/?unread=1"),
    ]);
    if (!all.ok || !unreadOnly.ok) return;
    order = [];
    byId.clear();
    unread.clear();
    for (const n of all.data) remember(n);
    for (const n of unreadOnly.data) {
      if (!byId.has(n.id)) byId.set(n.id, n);
      unread.add(n.id);
    }
    moreUnread = unreadOnly.data.length >= 100;
    renderBadge();
    if (!panel.hidden) renderList();
  }

  async function markRead(id, { keepalive = false } = {}) {
    if (!unread.has(id)) return;
    unread.delete(id);
    renderBadge();
    const response = await api("POST", `/api/notifications/${id}/read/`, undefined, { keepalive });
    if (response.ok && byId.has(id)) byId.set(id, response.data);
  }

  // --- the dropdown -----------------------------------------------------------------------

  function renderList() {
    const shown = order.slice(0, SHOWN).map((id) => byId.get(id));
    list.replaceChildren(...shown.map(notificationItem));
    empty.hidden = shown.length > 0;
    markAllButton.hidden = unread.size === 0;
  }

  function notificationItem(notification) {
    const li = el("li", "notif-item");
    const fresh = unread.has(notification.id) || readHere.has(notification.id);
    if (fresh) li.classList.add("unread");
    const link = el(notification.url ? "a" : "div", "notif-link");
    if (notification.url) {
      link.href = notification.url;
      link.addEventListener("click", () => {
        markRead(notification.id, { keepalive: true });
        close();
      });
    }
    const glyph = el("span", "notif-kind");
    glyph.dataset.kind = notification.kind;
    glyph.append(icon(KIND_ICON[notification.kind] ?? "bell", 16));
    const text = el("span", "notif-text");
    text.append(el("span", "notif-title", notification.title));
    if (notification.body) text.append(el("span", "notif-body", notification.body));
    const when = el("time", "notif-when", relativeTime(new Date(notification.created_at)));
    when.dateTime = notification.created_at;
    when.title = fullDate(new Date(notification.created_at));
    text.append(when);
    link.append(glyph, text);
    if (fresh) {
      const dot = el("span", "visually-hidden", "Unread: ");
      link.prepend(dot);
    }
    li.append(link);
    return li;
  }

  function open() {
    panel.hidden = false;
    button.setAttribute("aria-expanded", "true");
    renderDesktop();
    // Opening the list reads what it shows (still highlighted until it closes).
    for (const id of order.slice(0, SHOWN)) {
      if (unread.has(id)) {
        readHere.add(id);
        markRead(id);
      }
    }
    renderList();
    document.addEventListener("pointerdown", onOutside, true);
    (list.querySelector("a") ?? panel.querySelector("button:not([hidden])") ?? panel).focus();
  }

  function close({ focusButton = false } = {}) {
    if (panel.hidden) return;
    panel.hidden = true;
    button.setAttribute("aria-expanded", "false");
    readHere.clear();
    document.removeEventListener("pointerdown", onOutside, true);
    if (focusButton) button.focus();
  }

  function onOutside(event) {
    if (!root.contains(event.target)) close();
  }

  button.addEventListener("click", () => (panel.hidden ? open() : close()));
  root.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !panel.hidden) {
      event.preventDefault();
      close({ focusButton: true });
    }
  });
  root.addEventListener("focusout", (event) => {
    if (event.relatedTarget && !root.contains(event.relatedTarget)) close();
  });
  markAllButton.addEventListener("click", async () => {
    const ids = [...unread];
    for (const id of ids) readHere.add(id);
    await Promise.all(ids.map((id) => markRead(id)));
    renderList();
    button.focus();
  });

  // --- desktop notifications --------------------------------------------------------------

  function renderDesktop() {
    if (!("Notification" in window)) {
      desktopButton.hidden = true;
      desktopNote.hidden = true;
      return;
    }
    const permission = Notification.permission;
    desktopButton.hidden = permission !== "default";
    desktopNote.hidden = permission === "default";
    desktopNote.textContent =
      permission === "granted"
        ? "Desktop notifications are on while Switchboard is open in a tab."
        : "Desktop notifications are blocked for this site in your browser's settings.";
  }

  desktopButton.addEventListener("click", async () => {
    try {
      await Notification.requestPermission();
    } catch {
      // an old browser without the promise form
    }
    renderDesktop();
    (desktopNote.hidden ? button : desktopNote).focus?.();
  });

  function showDesktop(notification) {
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    if (document.visibilityState === "visible" && document.hasFocus()) return; // the toast shows it
    try {
      const shown = new Notification(notification.title, {
        body: notification.body,
        tag: `switchboard-notification-${notification.id}`,
        icon: "/static/img/favicon.svg",
      });
      shown.onclick = () => {
        window.focus();
        markRead(notification.id, { keepalive: true });
        if (notification.url) window.location.assign(notification.url);
        shown.close();
      };
    } catch {
      // Some browsers only allow notifications from a service worker.
    }
  }

  // --- live -------------------------------------------------------------------------------

  function isThisPage(url) {
    if (!url) return false;
    try {
      return new URL(url, window.location.href).pathname === window.location.pathname;
    } catch {
      return false;
    }
  }

  function onNotification({ notification }) {
    if (!notification || byId.has(notification.id)) return;
    remember(notification, { front: true });
    if (notification.kind === "mention" && isThisPage(notification.url) && document.visibilityState === "visible") {
      // A mention in the room the person is reading: they see it there, highlighted.
      markRead(notification.id);
    } else {
      toast({
        title: notification.title,
        body: notification.body,
        href: notification.url || null,
        tone: notification.kind.startsWith("alert") ? "alert" : "mention",
        timeout: 8000,
        onOpen: () => markRead(notification.id, { keepalive: true }),
      });
      showDesktop(notification);
    }
    renderBadge();
    if (!panel.hidden) renderList();
  }

  let wasLive = false;
  const socket = new LiveSocket("/ws/notifications/", {
    hello: false,
    handlers: {
      notification: onNotification,
      state: ({ state, code }) => {
        root.dataset.state = state;
        if (state === "live") {
          if (wasLive) refresh(); // catch up on what came while disconnected
          wasLive = true;
        } else if (state === "ended" && code === CloseCode.SESSION_ENDED && !document.getElementById("conn-banner")) {
          toast({
            title: "You were signed out",
            body: "Log in again to get your notifications.",
            href: `/accounts/login/?next=${encodeURIComponent(window.location.pathname).replaceAll("%2F", "/")}`,
            tone: "error",
            timeout: 0,
          });
        }
      },
    },
  });

  renderBadge();
  refresh();
  socket.connect();
  window.switchboardNotifications = { refresh, socket };
}
