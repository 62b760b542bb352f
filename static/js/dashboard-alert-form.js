// "Add an alert" on the owner's dashboard page: a rule on one of their devices (or a built-in one),
// POST /api/alerts/ with this dashboard and the channels it is sent to (CONTRACT.md §11).
import { api } from "./api.js";
import { METRIC_RULE, validMetric } from "./dashboard-editor.js";
import { formDialog } from "./form-dialog.js";

/** What a channel is called in a list: a webhook's host and path, or an e-mail address. */
export function channelLabel(channel) {
  if (channel.kind === "email") return channel.address;
  try {
    const url = new URL(channel.url);
    return `${url.host}${url.pathname === "/" ? "" : url.pathname}`;
  } catch {
    return channel.url;
  }
}

function option(value, text) {
  const element = document.createElement("option");
  element.value = value;
  element.textContent = text;
  return element;
}

function channelBox(channel) {
  const label = document.createElement("label");
  label.className = "check";
  const box = document.createElement("input");
  box.type = "checkbox";
  box.name = "channels";
  box.value = channel.id;
  label.append(box, ` ${channel.kind === "email" ? "E-mail" : "Webhook"}: ${channelLabel(channel)}`);
  return label;
}

/** The rule's JSON from the form, or a sentence saying what to fix. */
function ruleFrom(data, slug) {
  const device = Number(data.get("device"));
  if (!device) return "Choose a device.";
  const metric = String(data.get("metric") ?? "").trim();
  if (!validMetric(metric)) return METRIC_RULE;
  const threshold = String(data.get("threshold") ?? "").trim();
  if (threshold === "" || !Number.isFinite(Number(threshold))) return "Give a threshold (a number).";
  const forSeconds = Number(data.get("for_seconds") || 0);
  if (!Number.isInteger(forSeconds) || forSeconds < 0) return "Seconds are a whole number, 0 or more.";
  const channels = data.getAll("channels").map(Number);
  return {
    device,
    metric,
    op: data.get("op"),
    threshold: Number(threshold),
    for_seconds: forSeconds,
    dashboard: slug,
    channels,
  };
}

/** Wire the dialog; `added()` runs once a rule is stored. */
export function setUpAlertForm({ slug, added }) {
  const dialog = document.getElementById("alert-dialog");
  const form = document.getElementById("alert-form");
  const opener = document.getElementById("add-alert");
  if (!dialog || !form || !opener) return;
  const deviceSelect = document.getElementById("alert-device");
  const channelSet = document.getElementById("alert-channels");
  const noChannels = document.getElementById("alert-no-channels");

  async function load() {
    const [devices, channels] = await Promise.all([api("GET", "/api/devices/"), api("GET", "/api/alert-channels/")]);
    if (devices.ok) {
      const usable = devices.data.filter((device) => !device.revoked_at);
      deviceSelect.replaceChildren(
        ...(usable.length
          ? usable.map((d) => option(d.id, d.is_builtin ? `${d.name} (built in)` : d.name))
          : [option("", "No devices to watch: add one first")]),
      );
    }
    if (channels.ok) {
      channelSet.querySelectorAll("label.check").forEach((label) => label.remove());
      channelSet.append(...channels.data.map(channelBox));
      noChannels.hidden = channels.data.length > 0;
    }
  }

  opener.addEventListener("click", load);
  formDialog({
    dialog,
    form,
    opener,
    async submit(data) {
      const rule = ruleFrom(data, slug);
      if (typeof rule === "string") return rule;
      const result = await api("POST", "/api/alerts/", rule);
      if (!result.ok) return `Could not add the alert: ${result.error}`;
      dialog.close();
      form.reset();
      added(result.data);
      return null;
    },
  });
}
