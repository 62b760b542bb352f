// A modal question (<dialog>), instead of window.confirm/prompt: labelled, focus kept inside
// while open and given back afterwards, Escape cancels, Enter in the field confirms.
import { el } from "./ui.js";

let counter = 0;

/** Resolves to {confirmed, reason}. */
export function askDialog({ title, text = "", confirmLabel = "OK", danger = false, reasonLabel = null }) {
  return new Promise((resolve) => {
    const id = ++counter;
    const opener = document.activeElement;
    const dialog = el("dialog", "modal");
    dialog.setAttribute("aria-labelledby", `dialog-title-${id}`);
    const form = el("form");
    form.method = "dialog";
    const heading = el("h2", "modal-title", title);
    heading.id = `dialog-title-${id}`;
    form.append(heading);
    if (text) {
      const p = el("p", "modal-text", text);
      p.id = `dialog-text-${id}`;
      dialog.setAttribute("aria-describedby", p.id);
      form.append(p);
    }
    let field = null;
    if (reasonLabel) {
      const label = el("label", "modal-label", reasonLabel);
      label.htmlFor = `dialog-field-${id}`;
      field = el("input", "modal-field");
      field.id = label.htmlFor;
      field.name = "reason";
      field.maxLength = 500;
      field.autocomplete = "off";
      form.append(label, field);
    }
    const buttons = el("div", "modal-buttons");
    const cancel = el("button", "ghost", "Cancel");
    cancel.type = "button";
    cancel.addEventListener("click", () => dialog.close("cancel"));
    const confirm = el("button", danger ? "danger-button" : "primary", confirmLabel);
    confirm.type = "submit";
    confirm.value = "confirm";
    buttons.append(cancel, confirm);
    form.append(buttons);
    dialog.append(form);
    dialog.addEventListener("close", () => {
      resolve({ confirmed: dialog.returnValue === "confirm", reason: field?.value.trim() ?? "" });
      dialog.remove();
      if (opener?.isConnected) opener.focus();
    });
    document.body.append(dialog);
    dialog.showModal();
    (field ?? cancel).focus();
  });
}
