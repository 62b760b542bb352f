// Named versions of the notes, for the room's owners (and staff): save the text as it is now,
// list and read saved ones, restore one (after a confirmation). The server makes a restore an
// ordinary notes update, so every open editor converges on it by itself.
import { api } from "../api.js";
import { askDialog } from "../dialog.js";
import { fullDate, relativeTime } from "../time.js";
import { toast } from "../toast.js";
import { el } from "../ui.js";

export function setUpVersions({ button, slug }) {
  const dialog = document.getElementById("notes-versions");
  if (!button || !dialog) return;
  const base = `/api/rooms/${encodeURIComponent(slug)}/notes/versions/`;
  const form = document.getElementById("nv-form");
  const nameInput = document.getElementById("nv-name");
  const error = document.getElementById("nv-error");
  const list = document.getElementById("nv-list");
  const empty = document.getElementById("nv-empty");
  const preview = document.getElementById("nv-preview");
  const previewTitle = document.getElementById("nv-preview-title");
  const previewMeta = document.getElementById("nv-preview-meta");
  const previewText = document.getElementById("nv-preview-text");
  const restoreButton = document.getElementById("nv-restore");
  let versions = [];
  let shown = null; // the version in the preview

  button.hidden = false;
  button.addEventListener("click", () => {
    showError("");
    dialog.showModal();
    nameInput.focus();
    load();
  });
  document.getElementById("nv-close").addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => button.isConnected && button.focus());
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) dialog.close(); // a click on the backdrop
  });

  function showError(text) {
    error.textContent = text;
    error.hidden = !text;
    nameInput.toggleAttribute("aria-invalid", Boolean(text));
  }

  function describe(version) {
    const who = version.created_by?.username ?? "someone";
    const when = relativeTime(new Date(version.created_at));
    return `Saved by ${who}, ${when}`;
  }

  async function load(selectId = shown?.id) {
    const { ok, data, error: problem } = await api("GET", base);
    if (!ok) {
      showError(problem);
      return;
    }
    versions = [...data].sort((a, b) => b.created_at.localeCompare(a.created_at));
    render();
    const again = versions.find((v) => v.id === selectId);
    if (again) show(again);
    else hidePreview();
  }

  function render() {
    list.replaceChildren(
      ...versions.map((version) => {
        const item = el("li", "nv-item");
        const open = el("button", "nv-open");
        open.type = "button";
        open.dataset.id = version.id;
        open.setAttribute("aria-pressed", String(shown?.id === version.id));
        const name = el("span", "nv-name", version.name);
        const meta = el("span", "nv-meta", describe(version));
        meta.title = fullDate(new Date(version.created_at));
        open.append(name, meta);
        if (version.restored_at) {
          open.append(el("span", "nv-restored", `Restored ${relativeTime(new Date(version.restored_at))}`));
        }
        open.addEventListener("click", () => show(version));
        item.append(open);
        return item;
      }),
    );
    empty.hidden = versions.length > 0;
  }

  function show(version) {
    shown = version;
    previewTitle.textContent = version.name;
    previewMeta.textContent = describe(version);
    previewText.textContent = version.text || "(empty)";
    previewText.classList.toggle("is-empty", !version.text);
    preview.hidden = false;
    for (const open of list.querySelectorAll(".nv-open")) {
      open.setAttribute("aria-pressed", String(Number(open.dataset.id) === version.id));
    }
  }

  function hidePreview() {
    shown = null;
    preview.hidden = true;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = nameInput.value.trim();
    if (!name) {
      showError("Give the version a name.");
      nameInput.focus();
      return;
    }
    const submit = form.querySelector("button[type=submit]");
    submit.disabled = true;
    const { ok, data, error: problem } = await api("POST", base, { name });
    submit.disabled = false;
    if (!ok) {
      showError(problem);
      return;
    }
    showError("");
    nameInput.value = "";
    toast({ title: `Saved version “${data.name}”`, tone: "success", timeout: 4000 });
    await load(data.id);
  });

  restoreButton.addEventListener("click", async () => {
    const version = shown;
    if (!version) return;
    const { confirmed } = await askDialog({
      title: `Restore “${version.name}”?`,
      text: "The notes will read as this version did, for everyone in the room. Save the current text as a version first if you may want it back.",
      confirmLabel: "Restore",
      danger: true,
    });
    if (!confirmed) return;
    restoreButton.disabled = true;
    const { ok, error: problem } = await api("POST", `${base}${version.id}/restore/`);
    restoreButton.disabled = false;
    if (!ok) {
      toast({ title: "Could not restore that version", body: problem, tone: "error" });
      return;
    }
    dialog.close();
    toast({ title: `Restored “${version.name}”`, tone: "success", timeout: 4000 });
  });
}
