// The dashboard owner's "Add panel" dialog: POST /api/dashboards/<slug>/panels/ with one of
// the owner's devices, then reload (the page and its socket pick the new panel up).
import { api } from "./api.js";

export function setUpPanelEditor({ slug }) {
  const dialog = document.getElementById("panel-dialog");
  const form = document.getElementById("panel-form");
  const opener = document.getElementById("add-panel");
  const deviceSelect = document.getElementById("panel-device");
  const errorBox = document.getElementById("panel-error");
  const save = document.getElementById("panel-save");
  if (!dialog || !form || !opener) return;

  function fail(text) {
    errorBox.textContent = text;
    errorBox.hidden = false;
  }

  async function loadDevices() {
    const result = await api("GET", "/api/devices/");
    if (!result.ok) return fail(`Could not load your devices: ${result.error}`);
    const options = result.data
      .filter((device) => !device.revoked_at)
      .map((device) => {
        const option = document.createElement("option");
        option.value = device.id;
        option.textContent = device.is_builtin ? `${device.name} (built in)` : device.name;
        return option;
      });
    if (!options.length) {
      const none = document.createElement("option");
      none.value = "";
      none.textContent = "You have no devices yet";
      options.push(none);
    }
    deviceSelect.replaceChildren(...options);
  }

  opener.addEventListener("click", () => {
    errorBox.hidden = true;
    dialog.showModal();
    loadDevices();
  });
  document.getElementById("panel-cancel").addEventListener("click", () => dialog.close());
  opener.hidden = false; // shown once it works

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errorBox.hidden = true;
    const data = new FormData(form);
    const title = String(data.get("title") ?? "").trim();
    const metric = String(data.get("metric") ?? "").trim();
    const device = Number(data.get("device"));
    if (!title) return fail("Give the panel a title.");
    if (!device) return fail("Choose a device.");
    if (!/^[a-z0-9_.:-]{1,64}$/.test(metric)) {
      return fail("A metric is 1 to 64 lower-case letters, digits or . _ : -");
    }
    const thresholds = {};
    for (const name of ["warn", "crit"]) {
      const raw = String(data.get(name) ?? "").trim();
      if (raw !== "") thresholds[name] = Number(raw);
    }
    save.disabled = true;
    const result = await api("POST", `/api/dashboards/${encodeURIComponent(slug)}/panels/`, {
      title,
      device,
      metric,
      kind: data.get("kind"),
      thresholds,
    });
    if (result.ok) {
      window.location.reload();
      return;
    }
    fail(result.error);
    save.disabled = false;
  });
}
