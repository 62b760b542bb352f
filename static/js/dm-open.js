// Direct messages: open (or find) the conversation with some people and go there. The home
// page's "New message" dialog and the room page's "Message" action on a person both use it.
import { api } from "./api.js";
import { formDialog } from "./form-dialog.js";

/** The usernames typed in a "To" field: split on spaces and commas, "@" dropped, no repeats. */
export function parseUsernames(text) {
  const names = String(text ?? "")
    .split(/[\s,]+/)
    .map((name) => name.replace(/^@/, ""))
    .filter(Boolean);
  return [...new Set(names)];
}

/** POST /api/dms/ then go to the room; resolves to an error sentence if refused. */
export async function openDm(usernames) {
  const result = await api("POST", "/api/dms/", { usernames });
  if (result.ok && result.data?.slug) {
    window.location.href = `/rooms/${encodeURIComponent(result.data.slug)}/`;
    return null;
  }
  return result.error ?? "Could not open the conversation.";
}

const dialog = document.getElementById("dm-dialog");
const form = document.getElementById("open-dm");
const opener = document.getElementById("new-dm");

if (dialog && form && opener) {
  formDialog({
    dialog,
    form,
    opener,
    submit(data) {
      const usernames = parseUsernames(data.get("usernames"));
      return usernames.length ? openDm(usernames) : "Name at least one person.";
    },
  });
}
