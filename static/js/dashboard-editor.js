// The dashboard owner's "Add panel" dialog: POST /api/dashboards/<slug>/panels/ with one of
// the owner's devices (or, for a map, several), then reload (the page and its socket pick the
// new panel up). The fields shown follow the kind: a metric for charts, metrics for a ticker,
// devices for a map.
import { api } from "./api.js";

// A metric's name, as the server checks it (dashboard.serializers.METRIC): one home for the
// page's check and its wording, shared by the panel and alert dialogs.
const METRIC = /^[a-z0-9_.:-]{1,64}$/;
export const METRIC_RULE = "A metric is 1 to 64 lower-case letters, digits or . _ : -";
export const validMetric = (name) => METRIC.test(name);

export function setUpPanelEditor({ slug }) {
  const dialog = document.getElementById("panel-dialog");
  const form = document.getElementById("panel-form");
  const opener = document.getElementById("add-panel");
  const deviceSelect = document.getElementById("panel-device");
  const devicesSelect = document.getElementById("panel-devices");
  const kindSelect = document.getElementById("panel-kind");
  const errorBox = document.getElementById("panel-error");
  const save = document.getElementById("panel-save");
  if (!dialog || !form || !opener) return;

  function fail(text) {
    errorBox.textContent = text;
    errorBox.hidden = false;
  }

  function showFieldsFor(kind) {
    for (const group of form.querySelectorAll("[data-for-kinds]")) {
      group.hidden = !group.dataset.forKinds.split(" ").includes(kind);
    }
  }

  async function loadDevices() {
    const result = await api("GET", "/api/devices/");
    if (!result.ok) return fail(`Could not load your devices: ${result.error}`);
    const usable = result.data.filter((device) => !device.revoked_at);
    const options = () =>
      usable.map((device) => {
        const option = document.createElement("option");
        option.value = device.id;
        option.textContent = device.is_builtin ? `${device.name} (built in)` : device.name;
        return option;
      });
    const single = options();
    if (!single.length) {
      const none = document.createElement("option");
      none.value = "";
      none.textContent = "You have no devices yet";
      single.push(none);
    }
    deviceSelect.replaceChildren(...single);
    devicesSelect?.replaceChildren(...options());
  }

  opener.addEventListener("click", () => {
    errorBox.hidden = true;
    showFieldsFor(kindSelect.value);
    dialog.showModal();
    loadDevices();
  });
  kindSelect.addEventListener("change", () => showFieldsFor(kindSelect.value));
  document.getElementById("panel-cancel").addEventListener("click", () => dialog.close());
  opener.hidden = false; // shown once it works

  /** The panel's JSON from the form, or an error message. */
  function panelFrom(data) {
    const kind = String(data.get("kind"));
    const title = String(data.get("title") ?? "").trim();
    if (!title) return "Give the panel a title.";
    const thresholds = {};
    for (const name of ["warn", "crit"]) {
      const raw = String(data.get(name) ?? "").trim();
      if (raw !== "") thresholds[name] = Number(raw);
    }
    if (kind === "map") {
      const devices = data.getAll("devices").map(Number).filter(Boolean);
      return devices.length ? { title, kind, devices, thresholds } : "Choose at least one device.";
    }
    const device = Number(data.get("device"));
    if (!device) return "Choose a device.";
    if (kind === "ticker") {
      const metrics = [
        ...new Set(
          String(data.get("metrics") ?? "")
            .split(/[\s,]+/)
            .filter(Boolean),
        ),
      ];
      if (!metrics.length || !metrics.every(validMetric)) {
        return "List metrics of 1 to 64 lower-case letters, digits or . _ : -";
      }
      return { title, kind, device, metrics, thresholds };
    }
    const metric = String(data.get("metric") ?? "").trim();
    if (!validMetric(metric)) return METRIC_RULE;
    return { title, kind, device, metric, thresholds };
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errorBox.hidden = true;
    const panel = panelFrom(new FormData(form));
    if (typeof panel === "string") return fail(panel);
    save.disabled = true;
    const result = await api("POST", `/api/dashboards/${encodeURIComponent(slug)}/panels/`, panel);
    if (result.ok) {
      window.location.reload();
      return;
    }
    fail(result.error);
    save.disabled = false;
  });
}
