// The alert channels page: create a webhook or e-mail channel (its signing secret is shown
// once), list them, send a test delivery and watch the delivery log (all over REST).
import { api } from "./api.js";
import { askDialog } from "./dialog.js";
import { clockTime, fullDate } from "./time.js";
import { toast } from "./toast.js";
import { el } from "./ui.js";
import { describeDelivery, stillMoving } from "./alert-deliveries.js";

const LOG_EVERY_MS = 1000; // while a delivery is queued or being retried
const LOG_IDLE_MS = 15_000;

const form = document.getElementById("channel-form");
const formError = document.getElementById("channel-error");
const createButton = document.getElementById("channel-create");
const secretBox = document.getElementById("channel-secret");
const secretValue = document.getElementById("channel-secret-value");
const list = document.getElementById("channel-list");
const listEmpty = document.getElementById("channels-empty");
const listError = document.getElementById("channels-error");
const logSection = document.getElementById("deliveries");
const logTitle = document.getElementById("deliveries-title");
const logBody = document.querySelector("#delivery-log tbody");
const logEmpty = document.getElementById("deliveries-empty");
const logChecked = document.getElementById("deliveries-checked");

let shown = null; // the channel whose deliveries are on screen
let logTimer = null;

function chosenKind() {
  return form.querySelector("input[name=kind]:checked").value;
}

function showKindFields() {
  const kind = chosenKind();
  for (const field of form.querySelectorAll("[data-for]")) field.hidden = field.dataset.for !== kind;
}

function target(channel) {
  return channel.kind === "webhook" ? channel.url : channel.address;
}

function channelItem(channel) {
  const li = el("li", "channel-item");
  li.dataset.channel = channel.id;
  const kind = el("span", "badge", channel.kind === "webhook" ? "Webhook" : "E-mail");
  const what = el("span", "channel-target", target(channel));
  const actions = el("span", "channel-actions");
  const test = el("button", "small-button", "Send test");
  test.type = "button";
  test.addEventListener("click", () => sendTest(channel));
  const log = el("button", "small-button ghost", "Deliveries");
  log.type = "button";
  log.setAttribute("aria-controls", "deliveries");
  log.addEventListener("click", () => showDeliveries(channel));
  const remove = el("button", "small-button ghost", "Delete");
  remove.type = "button";
  remove.setAttribute("aria-label", `Delete the channel ${target(channel)}`);
  remove.addEventListener("click", () => deleteChannel(channel));
  actions.append(test, log, remove);
  li.append(kind, what, actions);
  if (shown?.id === channel.id) li.setAttribute("aria-current", "true");
  return li;
}

async function refreshChannels() {
  const result = await api("GET", "/api/alert-channels/");
  if (!result.ok) {
    listError.textContent = `Could not load your channels (${result.error}).`;
    listError.hidden = false;
    return [];
  }
  listError.hidden = true;
  list.replaceChildren(...result.data.map(channelItem));
  listEmpty.hidden = result.data.length > 0;
  return result.data;
}

async function createChannel(event) {
  event.preventDefault();
  const kind = chosenKind();
  const body =
    kind === "webhook"
      ? { kind, url: form.elements.url.value.trim() }
      : { kind, address: form.elements.address.value.trim() };
  createButton.disabled = true;
  const result = await api("POST", "/api/alert-channels/", body);
  createButton.disabled = false;
  if (!result.ok) {
    formError.textContent = result.error;
    formError.hidden = false;
    return;
  }
  formError.hidden = true;
  form.reset();
  showKindFields();
  secretValue.textContent = result.data.secret;
  secretBox.hidden = false;
  await refreshChannels();
  showDeliveries(result.data);
}

async function sendTest(channel) {
  const result = await api("POST", `/api/alert-channels/${channel.id}/test/`);
  if (!result.ok) {
    toast({ title: "The test was not sent", body: result.error, tone: "error" });
    return;
  }
  toast({ title: "Test delivery queued", body: target(channel) });
  showDeliveries(channel);
}

async function deleteChannel(channel) {
  const { confirmed } = await askDialog({
    title: "Delete this channel?",
    text: `Alerts will no longer be sent to ${target(channel)}.`,
    confirmLabel: "Delete",
    danger: true,
  });
  if (!confirmed) return;
  const result = await api("DELETE", `/api/alert-channels/${channel.id}/`);
  if (!result.ok) {
    toast({ title: "The channel was not deleted", body: result.error, tone: "error" });
    return;
  }
  if (shown?.id === channel.id) {
    shown = null;
    clearTimeout(logTimer);
    logSection.hidden = true;
  }
  refreshChannels();
}

function logRow(delivery) {
  const cells = describeDelivery(delivery);
  const tr = el("tr");
  tr.dataset.delivery = delivery.id;
  const when = el("td");
  const time = el("time", "", clockTime(new Date(cells.when)));
  time.dateTime = cells.when;
  time.title = fullDate(new Date(cells.when));
  when.append(time);
  const status = el("td", "", cells.status);
  status.dataset.status = delivery.status;
  tr.append(when, el("td", "", cells.event), status, el("td", "", cells.code));
  tr.append(el("td", "", cells.attempts), el("td", "", cells.error));
  return tr;
}

async function refreshLog() {
  clearTimeout(logTimer);
  if (shown === null) return;
  const channel = shown;
  const result = await api("GET", `/api/alert-channels/${channel.id}/deliveries/`);
  if (shown !== channel) return;
  let moving = false;
  if (result.ok) {
    logBody.replaceChildren(...result.data.map(logRow));
    logEmpty.hidden = result.data.length > 0;
    logChecked.textContent = `checked ${clockTime(new Date())}`;
    moving = stillMoving(result.data);
  }
  // Poll quickly while something is on its way, slowly otherwise; not at all when hidden.
  if (!document.hidden) logTimer = setTimeout(refreshLog, moving ? LOG_EVERY_MS : LOG_IDLE_MS);
}

function showDeliveries(channel) {
  shown = channel;
  logTitle.textContent = `Deliveries to ${target(channel)}`;
  logSection.hidden = false;
  for (const item of list.children) {
    item.toggleAttribute("aria-current", Number(item.dataset.channel) === channel.id);
    if (item.hasAttribute("aria-current")) item.setAttribute("aria-current", "true");
  }
  refreshLog();
}

form.addEventListener("submit", createChannel);
form.addEventListener("change", (event) => {
  if (event.target.name === "kind") showKindFields();
});
document.addEventListener("visibilitychange", () => {
  if (!document.hidden) refreshLog();
});
showKindFields();
refreshChannels();
