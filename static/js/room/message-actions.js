// The "Message actions" menu on a message (one's own, and everyone's for moderators): editing in
// place and deleting.
import { askDialog } from "../dialog.js";
import { closeMenu, menuButton } from "../menu.js";
import { el } from "../ui.js";
import { messages, rendered } from "./list-state.js";
import { clearError, showError } from "./notices.js";
import { canChange, me, socket } from "./page.js";

let editing = null; // {seq, form, area, saving}
let redraw = () => {}; // message-list.js: draw a message again as it now is

/** How a message is drawn again once its editor closes (set by message-list.js). */
export function setRedraw(draw) {
  redraw = draw;
}

/** Add or remove a message's actions menu to match who may change it now. */
export function syncActions(item, message = messages.get(Number(item.dataset.seq))) {
  const want = canChange(message) && !item.classList.contains("editing");
  const has = item.querySelector(".msg-actions");
  if (want && !has) {
    const seq = message.seq;
    const wrap = el("div", "msg-actions");
    wrap.append(
      menuButton({
        label: "Message actions",
        items: () => [
          { label: "Edit", action: () => startEdit(seq) },
          { label: "Delete", danger: true, action: () => confirmDelete(seq) },
        ],
      }),
    );
    item.querySelector(".msg").append(wrap);
  } else if (!want && has) {
    has.remove();
  }
}

export function startEdit(seq) {
  const item = rendered.get(seq);
  const message = messages.get(seq);
  if (!item || !canChange(message)) return;
  if (editing) cancelEdit();
  closeMenu();
  const editor = el("form", "edit-form");
  const area = el("textarea", "edit-input");
  area.value = message.body;
  area.rows = 1;
  area.maxLength = 4000;
  area.setAttribute("aria-label", "Edit message");
  const row = el("div", "edit-row");
  const hint = el("span", "edit-hint", "Enter to save · Esc to cancel");
  const cancel = el("button", "ghost small-button", "Cancel");
  cancel.type = "button";
  const save = el("button", "primary small-button", "Save");
  save.type = "submit";
  row.append(hint, cancel, save);
  editor.append(area, row);
  item.querySelector(".body").replaceWith(editor);
  item.classList.add("editing");
  syncActions(item);
  editing = { seq, form: editor, area, saving: false };

  const size = () => {
    area.style.height = "";
    area.style.height = `${Math.min(area.scrollHeight + 2, 240)}px`;
    editor.scrollIntoView({ block: "nearest" });
  };
  area.addEventListener("input", size);
  area.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      cancelEdit();
    } else if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      editor.requestSubmit();
    }
  });
  cancel.addEventListener("click", () => cancelEdit());
  editor.addEventListener("submit", (event) => {
    event.preventDefault();
    saveEdit();
  });
  area.focus();
  area.setSelectionRange(area.value.length, area.value.length);
  size();
}

function saveEdit() {
  if (!editing || editing.saving) return;
  const message = messages.get(editing.seq);
  const text = editing.area.value;
  if (!text.trim()) {
    showError("A message can't be empty. To remove it, delete it instead.");
    return;
  }
  if (text === message.body) return cancelEdit();
  editing.saving = true;
  editing.area.readOnly = true;
  editing.form.classList.add("saving");
  clearError();
  socket.send({ type: "message.edit", id: message.id, body: text });
}

export function cancelEdit() {
  if (!editing) return;
  const { seq } = editing;
  editing = null;
  const message = messages.get(seq);
  if (message) redraw(message);
}

/**
 * An edit or delete of `message` came in: true if its open editor keeps it (it is shown when
 * the editor closes); otherwise the editor, if it was this message's, is gone.
 */
export function editorTakes(message) {
  if (editing?.seq !== message.seq) return false;
  if (!editing.saving && !message.deleted) {
    messages.set(message.seq, message);
    return true;
  }
  editing = null;
  return false;
}

/** An error frame about the edit being saved: true if it was, and the editor is open again. */
export function editRefused(frame) {
  if (!editing?.saving || frame.ref !== messages.get(editing.seq)?.id) return false;
  editing.saving = false;
  editing.area.readOnly = false;
  editing.form.classList.remove("saving");
  editing.area.focus();
  showError(frame.detail);
  return true;
}

async function confirmDelete(seq) {
  const message = messages.get(seq);
  if (!canChange(message)) return;
  const mine = message.author.username === me;
  const { confirmed } = await askDialog({
    title: "Delete this message?",
    text: mine
      ? "Everyone in the room will see “This message was deleted.” in its place."
      : `${message.author.username}'s message will be replaced by “This message was deleted.” for everyone.`,
    confirmLabel: "Delete",
    danger: true,
  });
  if (confirmed) socket.send({ type: "message.delete", id: message.id });
}
