// The list labelled "Online" and the room's members: who is here now (presence frames), their
// roles, and who can be @mentioned.
import { api } from "../api.js";
import { openDm } from "../dm-open.js";
import { showError } from "./notices.js";
import { el } from "../ui.js";
import { avatar } from "./message-view.js";
import { moderationButton } from "./moderation.js";
import { apiBase, canModerate, conn, isModeratorRole, me } from "./page.js";

const online = document.getElementById("online");
const onlineNote = document.getElementById("online-note");

const members = new Map(); // username -> {id, username, role}
let onlineUsers = [];
let membersLoading = null;
let membersLoadedAt = 0;
let membersChanged = () => {}; // composer.js: the mention list may need the new names

/** Run `handler` whenever the member list has been loaded again. */
export function onMembersLoaded(handler) {
  membersChanged = handler;
}

export function loadMembers({ force = false } = {}) {
  if (membersLoading || (!force && Date.now() - membersLoadedAt < 5000)) return;
  membersLoading = api("GET", `${apiBase}/members/`)
    .then((result) => {
      if (!result.ok) return;
      members.clear();
      for (const member of result.data) members.set(member.username, member);
      renderOnline();
      membersChanged();
    })
    .finally(() => {
      membersLoading = null;
      membersLoadedAt = Date.now();
    });
}

/** Everyone who can be @mentioned here but oneself, by name. */
export function mentionable() {
  const people = new Map();
  for (const member of members.values()) people.set(member.username, member);
  for (const user of onlineUsers) if (!people.has(user.username)) people.set(user.username, user);
  people.delete(me);
  return [...people.values()].sort((a, b) => a.username.localeCompare(b.username));
}

/** "Message": open (or find) the direct conversation with this person. */
function messageButton(username) {
  const button = el("button", "ghost small-button dm-button", "Message");
  button.type = "button";
  button.setAttribute("aria-label", `Message ${username}`);
  button.addEventListener("click", async () => {
    const error = await openDm([username]);
    if (error) showError(error);
  });
  return button;
}

/** Draw the "Online" list; `users`: a new list from the server (hello or presence). */
export function renderOnline(users) {
  if (users) onlineUsers = users;
  const names = new Map(onlineUsers.map((u) => [u.username, u]));
  // You are online whenever your socket is live, whether or not the server lists you.
  if (conn.live && !names.has(me)) names.set(me, { username: me });
  const sorted = [...names.keys()].sort((a, b) => (a === me ? -1 : b === me ? 1 : a.localeCompare(b)));
  // Re-rendering must not lose the focus of someone using a moderation menu.
  const focusedName = document.activeElement?.closest?.(".online-user")?.dataset.username;
  const focusedDm = document.activeElement?.classList?.contains("dm-button");
  online.replaceChildren(
    ...sorted.map((username) => {
      const li = el("li", "online-user");
      li.dataset.username = username;
      const face = avatar(username);
      face.append(el("span", "presence-dot"));
      li.append(face, el("span", "online-name", username));
      if (username === me) li.append(el("span", "you", "(you)"));
      const memberRole = members.get(username)?.role;
      if (isModeratorRole(memberRole)) {
        li.append(el("span", "role-tag", memberRole === "owner" ? "owner" : "mod"));
      }
      if (username !== me) li.append(messageButton(username));
      if (username !== me && canModerate()) {
        li.append(moderationButton(username, () => loadMembers({ force: true })));
      }
      return li;
    }),
  );
  if (focusedName) {
    const which = focusedDm ? ".dm-button" : ":not(.dm-button)";
    online.querySelector(`[data-username="${CSS.escape(focusedName)}"] button${which}`)?.focus();
  }
  online.classList.toggle("stale", !conn.live || conn.limited);
  onlineNote.hidden = !conn.limited; // who else is here is not known without the socket
  if (users && users.some((u) => !members.has(u.username))) loadMembers();
}

/** This page is no longer in the room. */
export function leftRoom() {
  onlineUsers = [];
}
