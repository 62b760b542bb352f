// The moderation menu beside a person in the "Online" list (owners and moderators): mute,
// unmute, roles, remove and ban.
import { api } from "../api.js";
import { askDialog } from "../dialog.js";
import { menuButton } from "../menu.js";
import { toast } from "../toast.js";
import { apiBase, room } from "./page.js";

const MODERATION = {
  mute: { done: (u) => `${u} is muted for 10 minutes.`, verb: "mute" },
  unmute: { done: (u) => `${u} can send messages again.`, verb: "unmute" },
  kick: { done: (u) => `${u} was removed from the room.`, verb: "remove" },
  ban: { done: (u) => `${u} is banned from this room.`, verb: "ban" },
  role: { done: (u) => `${u}'s role in this room changed.`, verb: "change the role of" },
};

async function moderate(action, username, extra, removed) {
  const result = await api("POST", `${apiBase}/${action}/`, { username, ...extra });
  if (result.ok) {
    toast({ title: MODERATION[action].done(username), tone: "success", timeout: 5000 });
    if (action === "kick" || action === "ban") removed();
  } else {
    toast({ title: `Could not ${MODERATION[action].verb} ${username}`, body: result.error, tone: "error" });
  }
}

async function confirmRemoval(action, username, removed) {
  const ban = action === "ban";
  const { confirmed, reason } = await askDialog({
    title: ban ? `Ban ${username} from ${room.name}?` : `Remove ${username} from ${room.name}?`,
    text: ban
      ? "Their open pages of this room close, and they cannot come back until they are unbanned."
      : "Their open pages of this room close. They can join again if the room is public.",
    confirmLabel: ban ? "Ban" : "Remove",
    danger: true,
    reasonLabel: "Reason (optional, kept in the moderation log)",
  });
  if (confirmed) moderate(action, username, { reason }, removed);
}

/** The "Moderate <username>" menu button; `removed` runs once they are kicked or banned. */
export function moderationButton(username, removed) {
  const act = (action, extra = {}) => moderate(action, username, extra, removed);
  return menuButton({
    label: `Moderate ${username}`,
    className: "icon-button mod-button",
    items: () => [
      { label: "Mute for 10 minutes", action: () => act("mute", { minutes: 10 }) },
      { label: "Unmute", action: () => act("unmute") },
      // Roles are the owners' to give (the server refuses anyone else).
      ...(room.role === "owner"
        ? [
            { label: "Make moderator", action: () => act("role", { role: "moderator" }) },
            { label: "Make member", action: () => act("role", { role: "member" }) },
          ]
        : []),
      { label: "Remove from room…", danger: true, action: () => confirmRemoval("kick", username, removed) },
      { label: "Ban from room…", danger: true, action: () => confirmRemoval("ban", username, removed) },
    ],
  });
}
