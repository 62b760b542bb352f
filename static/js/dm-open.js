// Direct messages: open (or find) the conversation with some people and go there. The home
// page's "New message" dialog and the room page's "Message" action on a person both use it.
import { api } from "./api.js";

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
  const errorBox = form.querySelector(".field-error");
  const button = form.querySelector("button[type=submit]");
  opener.addEventListener("click", () => {
    errorBox.hidden = true;
    dialog.showModal();
  });
  form.querySelector("[data-cancel]").addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => opener.focus());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const usernames = parseUsernames(new FormData(form).get("usernames"));
    errorBox.hidden = true;
    if (!usernames.length) {
      errorBox.textContent = "Name at least one person.";
      errorBox.hidden = false;
      return;
    }
    button.disabled = true;
    const error = await openDm(usernames);
    if (error) {
      errorBox.textContent = error;
      errorBox.hidden = false;
      button.disabled = false;
    }
  });
}
