// What every part of the room page shares: the room and viewer the server rendered into the
// page, the connection's state as the page knows it, who may change what, and the socket.
const data = (id) => JSON.parse(document.getElementById(id).textContent);

export const room = data("room-data");
export const me = data("me");
export const layout = document.getElementById("room-layout");
export const apiBase = `/api/rooms/${encodeURIComponent(room.slug)}`;
const viewerIsStaff = layout.dataset.staff === "1";
const MODERATOR_ROLES = new Set(["owner", "moderator"]);

export const conn = {
  live: false,
  limited: false, // live over the fallback (no WebSockets): no typing, no presence
  ended: false,
  role: room.role,
  isMember: room.is_member,
};

export function isModeratorRole(role) {
  return MODERATOR_ROLES.has(role);
}

export function canModerate() {
  return !conn.ended && (viewerIsStaff || isModeratorRole(conn.role));
}

export function canChange(message) {
  return Boolean(message) && !conn.ended && !message.deleted && (message.author.username === me || canModerate());
}

// The LiveSocket, once room.js has made it (modules send through it from event handlers only).
export let socket = null;
export function setSocket(liveSocket) {
  socket = liveSocket;
}
