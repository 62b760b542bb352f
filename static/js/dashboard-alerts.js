// The alert rules on a dashboard page (GET /api/alerts/): their state (OK, pending, firing),
// refreshed every 30 s, soon after new points on a watched series, and at once when an alert
// notification arrives.
import { api } from "./api.js";
import { channelLabel, setUpAlertForm } from "./dashboard-alert-form.js";
import { formatValue, unitFor } from "./dashboard-charts.js";

const ALERTS_EVERY_MS = 30_000;

const alertList = document.getElementById("alerts");
const alertsEmpty = document.getElementById("alerts-empty");
const alertsError = document.getElementById("alerts-error");
const alertsChecked = document.getElementById("alerts-checked");
const deviceNames = new Map(); // device id -> its name, from the panels' figures
const alertSeries = new Set(); // "device:metric" of the rules on this dashboard
const channelNames = new Map(); // alert channel id -> what it is called (channelLabel)
let slug = null;
const STATE_TEXT = { ok: "OK", pending: "Pending", firing: "Firing" };
const STATE_ORDER = { firing: 0, pending: 1, ok: 2 };

function describeRule(rule) {
  const device = deviceNames.get(rule.device) ?? `Device ${rule.device}`;
  const wait = rule.for_seconds ? ` for ${rule.for_seconds} s` : "";
  return [`${device} · ${rule.metric}`, `${rule.op} ${formatValue(rule.threshold)}${unitFor(rule.metric)}${wait}`];
}

function renderAlerts(rules) {
  alertSeries.clear();
  rules.sort((a, b) => STATE_ORDER[a.state] - STATE_ORDER[b.state] || a.id - b.id);
  alertList.replaceChildren(
    ...rules.map((rule) => {
      alertSeries.add(`${rule.device}:${rule.metric}`);
      const [what, condition] = describeRule(rule);
      const li = document.createElement("li");
      li.className = "alert-rule";
      li.dataset.state = rule.state;
      const badge = document.createElement("span");
      badge.className = "alert-state";
      badge.textContent = STATE_TEXT[rule.state] ?? rule.state;
      const text = document.createElement("span");
      text.className = "alert-text";
      const name = document.createElement("span");
      name.className = "alert-name";
      name.textContent = what;
      const cond = document.createElement("span");
      cond.className = "alert-cond";
      cond.textContent = `${condition}`;
      if (rule.changed_at) {
        const when = document.createElement("time");
        when.dateTime = rule.changed_at;
        when.textContent = ` · since ${new Date(rule.changed_at).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}`;
        cond.append(when);
      }
      text.append(name, cond);
      if (rule.channels?.length) {
        const to = rule.channels.map((id) => channelNames.get(id) ?? `channel ${id}`).join(", ");
        const sends = document.createElement("span");
        sends.className = "alert-cond";
        sends.textContent = `Sent to ${to}`;
        text.append(sends);
      }
      li.append(badge, text);
      return li;
    }),
  );
  alertsEmpty.hidden = rules.length > 0;
}

async function loadChannelNames() {
  const result = await api("GET", "/api/alert-channels/");
  if (result.ok) for (const channel of result.data) channelNames.set(channel.id, channelLabel(channel));
}

let alertsTimer = null;
let alertsSoon = null;

async function refreshAlerts() {
  clearTimeout(alertsTimer);
  clearTimeout(alertsSoon);
  alertsSoon = null;
  const result = await api("GET", "/api/alerts/");
  if (result.ok) {
    const rules = result.data.filter((rule) => rule.dashboard === slug);
    if (rules.some((rule) => rule.channels?.some((id) => !channelNames.has(id)))) await loadChannelNames();
    renderAlerts(rules);
    alertsError.hidden = true;
    alertsChecked.textContent = `checked ${new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}`;
  } else {
    alertsError.textContent = `Could not load the alerts (${result.error}); trying again shortly.`;
    alertsError.hidden = false;
  }
  alertsTimer = setTimeout(refreshAlerts, ALERTS_EVERY_MS);
}

// New points on a watched series may have moved a rule (pending rules notify no one): look
// again shortly, at most once per second and a half however fast points come.
function refreshAlertsSoon() {
  if (alertsSoon === null) alertsSoon = setTimeout(refreshAlerts, 1500);
}

/** New points for a panel: if a rule watches its series, look at the rules again soon. */
export function pointsArrived(panel) {
  if (alertSeries.has(`${panel.device}:${panel.metric}`)) refreshAlertsSoon();
}

/** Start showing the rules of the dashboard `slug` whose page is `root`. */
export function setUpAlerts({ root, slug: dashboardSlug }) {
  slug = dashboardSlug;
  for (const figure of root.querySelectorAll("figure[data-device]")) {
    deviceNames.set(Number(figure.dataset.device), figure.dataset.deviceName);
  }
  refreshAlerts();
  setUpAlertForm({ slug, added: refreshAlerts });
  // Alert notifications (alert.firing / alert.resolved) refresh the list at once: the page
  // header's notification client announces each one as a DOM event.
  window.addEventListener("switchboard:notification", (event) => {
    if (String(event.detail?.kind ?? "").startsWith("alert")) refreshAlerts();
  });
}
