// Files on their way into a message: chosen with the Attach button, dropped on the message list
// or the composer, or pasted. Each upload shows a chip in the composer with its progress; a
// chip can be removed before sending. The composer takes the finished ones with the message.
import { csrfToken, describeError } from "../api.js";
import { formatSize } from "../search-highlight.js";
import { el } from "../ui.js";
import { showError } from "./notices.js";
import { room } from "./page.js";

const form = document.getElementById("composer");
const chips = document.getElementById("upload-chips");
const picker = document.getElementById("attach-input");
const MAX_FILES = 10;
const uploads = new Map(); // chip -> {id: number|null, xhr}

function chipFor(file) {
  const chip = el("li", "upload-chip uploading");
  const name = el("span", "upload-name", file.name || "pasted image");
  const progress = el("progress", "upload-progress");
  progress.max = 100;
  progress.value = 0;
  progress.setAttribute("aria-label", `Uploading ${name.textContent}`);
  const remove = el("button", "icon-button upload-remove", "×");
  remove.type = "button";
  remove.setAttribute("aria-label", `Remove ${name.textContent}`);
  remove.addEventListener("click", () => {
    uploads.get(chip)?.xhr.abort();
    uploads.delete(chip);
    chip.remove();
    document.getElementById("message-input").focus();
  });
  chip.append(name, el("span", "upload-size muted", formatSize(file.size)), progress, remove);
  return chip;
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function upload(file) {
  if (uploads.size >= MAX_FILES) {
    showError(`At most ${MAX_FILES} files per message.`);
    return;
  }
  const chip = chipFor(file);
  const xhr = new XMLHttpRequest();
  uploads.set(chip, { id: null, xhr });
  chips.append(chip);
  chips.hidden = false;
  xhr.open("POST", `/api/rooms/${encodeURIComponent(room.slug)}/attachments/`);
  xhr.setRequestHeader("X-CSRFToken", csrfToken());
  xhr.setRequestHeader("Accept", "application/json");
  xhr.upload.addEventListener("progress", (event) => {
    if (event.lengthComputable) chip.querySelector("progress").value = (100 * event.loaded) / event.total;
  });
  xhr.addEventListener("load", () => {
    const data = parseJson(xhr.responseText);
    if (xhr.status !== 201) {
      uploads.delete(chip);
      chip.remove();
      showError(`${file.name || "The image"}: ${describeError(data, xhr.status)}`);
      return;
    }
    uploads.get(chip).id = data.id;
    chip.classList.remove("uploading");
    chip.classList.add("uploaded");
    chip.dataset.attachmentId = data.id;
    chip.querySelector("progress").remove();
  });
  xhr.addEventListener("error", () => {
    uploads.delete(chip);
    chip.remove();
    showError(describeError(null, 0));
  });
  const body = new FormData();
  body.append("file", file, file.name || "pasted-image.png");
  xhr.send(body);
}

/** Upload files (a FileList or an array). */
export function uploadFiles(files) {
  for (const file of files) upload(file);
}

/** Whether a file is still uploading (the composer waits before it sends). */
export function uploadsPending() {
  return [...uploads.values()].some((u) => u.id === null);
}

/** The finished uploads' ids, and the chips cleared: they go with the message being sent. */
export function takeAttachments() {
  const ids = [];
  for (const [chip, u] of uploads) {
    if (u.id === null) continue;
    ids.push(u.id);
    uploads.delete(chip);
    chip.remove();
  }
  chips.hidden = uploads.size === 0;
  return ids;
}

document.getElementById("attach-button").addEventListener("click", () => picker.click());
picker.addEventListener("change", () => {
  uploadFiles(picker.files);
  picker.value = "";
});

// Drag and drop onto the message list or the composer.
for (const zone of [document.querySelector(".messages-area"), form]) {
  zone.addEventListener("dragover", (event) => {
    if (![...(event.dataTransfer?.types ?? [])].includes("Files")) return;
    event.preventDefault();
    zone.classList.add("dropping");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dropping"));
  zone.addEventListener("drop", (event) => {
    zone.classList.remove("dropping");
    if (!event.dataTransfer?.files.length) return;
    event.preventDefault();
    uploadFiles(event.dataTransfer.files);
  });
}

// A pasted image (a screenshot) becomes an upload; pasted text stays text.
document.getElementById("message-input").addEventListener("paste", (event) => {
  const files = [...(event.clipboardData?.files ?? [])];
  if (!files.length) return;
  event.preventDefault();
  uploadFiles(files);
});
