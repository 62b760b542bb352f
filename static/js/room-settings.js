// Room settings for owners: name, topic, archived (read-only). PATCH /api/rooms/<slug>/.
import { api } from "./api.js";
import { toast } from "./toast.js";
import { el } from "./ui.js";

const room = JSON.parse(document.getElementById("room-data").textContent);

function field(form, { label, name, value, maxLength, type = "text" }) {
  const id = `room-settings-${name}`;
  const labelNode = el("label", "modal-label", label);
  labelNode.htmlFor = id;
  const input = el("input", type === "checkbox" ? "" : "modal-field");
  input.type = type;
  input.id = id;
  input.name = name;
  if (type === "checkbox") input.checked = value;
  else {
    input.value = value;
    input.maxLength = maxLength;
  }
  if (type === "checkbox") {
    const row = el("div", "modal-check");
    row.append(input, labelNode);
    form.append(row);
  } else {
    form.append(labelNode, input);
  }
  return input;
}

function openSettings(opener) {
  const dialog = el("dialog", "modal");
  dialog.setAttribute("aria-labelledby", "room-settings-title");
  const form = el("form");
  form.method = "dialog";
  const heading = el("h2", "modal-title", "Room settings");
  heading.id = "room-settings-title";
  form.append(heading);
  const name = field(form, { label: "Room name", name: "name", value: room.name, maxLength: 100 });
  const topic = field(form, { label: "Topic", name: "topic", value: room.topic, maxLength: 250 });
  const archived = field(form, {
    label: "Archived: read-only, history kept",
    name: "is_archived",
    value: Boolean(room.is_archived),
    type: "checkbox",
  });
  const error = el("p", "field-error");
  error.setAttribute("role", "alert");
  error.hidden = true;
  const buttons = el("div", "modal-buttons");
  const cancel = el("button", "ghost", "Cancel");
  cancel.type = "button";
  cancel.addEventListener("click", () => dialog.close());
  const save = el("button", "primary", "Save settings");
  save.type = "submit";
  buttons.append(cancel, save);
  form.append(error, buttons);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    save.disabled = true;
    const result = await api("PATCH", `/api/rooms/${encodeURIComponent(room.slug)}/`, {
      name: name.value,
      topic: topic.value,
      is_archived: archived.checked,
    });
    save.disabled = false;
    if (!result.ok) {
      error.textContent = result.error;
      error.hidden = false;
      return;
    }
    dialog.close();
    toast({ title: "Room settings saved", tone: "success", timeout: 4000 });
    window.location.reload();
  });
  dialog.append(form);
  dialog.addEventListener("close", () => {
    dialog.remove();
    opener.focus();
  });
  document.body.append(dialog);
  dialog.showModal();
  name.focus();
}

if (room.is_archived) {
  // History stays readable; the composer says why it is off instead of failing on send.
  const input = document.getElementById("message-input");
  input.disabled = true;
  input.placeholder = "This room is archived: read-only";
  input.form?.querySelector("button[type=submit]")?.setAttribute("disabled", "");
}

if (room.role === "owner") {
  const button = el("button", "ghost room-settings-button", "Room settings");
  button.type = "button";
  button.addEventListener("click", () => openSettings(button));
  document.getElementById("conn-state").before(button);
}
