// The composer (the text box labelled "Message" and the "Send" button) and the outbox as the
// page shows it: one's own messages appear at once as "sending…", become the real message when
// the server echoes them back, or are marked "Not sent" with a Retry that keeps the client_id.
import { MentionAutocomplete } from "../mentions.js";
import { el } from "../ui.js";
import { list, messages, outgoing, pending, scrollToBottom } from "./list-state.js";
import { editRefused, startEdit } from "./message-actions.js";
import { decorate, lastOwnSeq, updateEmpty } from "./message-list.js";
import { messageItem, renderBody } from "./message-view.js";
import { clearNotices, showError, showNotice } from "./notices.js";
import { canChange, conn, me, socket } from "./page.js";
import { mentionable, onMembersLoaded } from "./people.js";
import { sentMessage, typed } from "./typing.js";
import { takeAttachments, uploadsPending } from "./uploads.js";

const form = document.getElementById("composer");
const input = document.getElementById("message-input");
const sendButton = form.querySelector("button[type=submit]");
const mentions = new MentionAutocomplete(input, document.getElementById("mention-list"), mentionable);

const QUIET_ERRORS = new Set(["unknown_type", "invalid_frame", "invalid_json", "rate_limited"]);
const NOT_SENT = new Set(["muted", "forbidden"]);

onMembersLoaded(() => {
  if (document.activeElement === input) mentions.update();
});

function markFailed(clientId, detail) {
  const item = pending.get(clientId);
  if (!item) return;
  item.classList.remove("sending", "grouped");
  item.classList.add("failed");
  const when = item.querySelector(".when");
  when.textContent = "Not sent";
  when.title = detail;
  item.querySelector(".retry")?.remove();
  const retry = el("button", "retry", "Retry");
  retry.type = "button";
  retry.disabled = conn.ended;
  retry.addEventListener("click", () => {
    const frame = outgoing.get(clientId);
    if (!frame || conn.ended) return;
    retry.remove();
    item.classList.remove("failed");
    item.classList.add("sending");
    when.textContent = "sending…";
    when.title = "";
    clearNotices();
    socket.sendOutbox(frame); // the same client_id: never stored twice
  });
  item.querySelector(".message-head").append(retry);
  decorate(item.nextElementSibling);
}

function queueMessage(body, attachments = []) {
  const frame = socket.sendMessage(body, attachments.length ? { attachments } : {});
  const item = messageItem({ author: { username: me }, body, created_at: new Date().toISOString() }, { sending: true });
  pending.set(frame.client_id, item);
  outgoing.set(frame.client_id, frame);
  list.append(item);
  decorate(item);
  updateEmpty();
  scrollToBottom();
}

function send() {
  const body = input.value;
  if (input.disabled) return;
  if (uploadsPending()) {
    showNotice("Your files are still uploading; send once they are done.");
    return;
  }
  const attachments = takeAttachments();
  if (!body.trim() && !attachments.length) return;
  sentMessage();
  clearNotices();
  queueMessage(body, attachments);
  input.value = "";
  autosize();
  showPreview();
}

function autosize() {
  input.style.height = "";
  if (input.value) input.style.height = `${Math.min(input.scrollHeight + 2, 200)}px`;
}

/** An error frame from the server (or the socket's own, e.g. frame_too_big). */
export function onError(frame) {
  if (frame.retrying) return; // the socket sends it again by itself, with the same client_id
  if (frame.ref != null && pending.has(frame.ref)) {
    markFailed(frame.ref, frame.detail);
    if (NOT_SENT.has(frame.code)) showNotice(`${frame.detail} Your message was not sent.`);
    else showError(frame.detail);
    return;
  }
  if (editRefused(frame)) return;
  if (QUIET_ERRORS.has(frame.code) && typeof frame.ref !== "number") {
    // About a background frame (read mark, typing) the server did not take: not the
    // person's business, and nothing they could do about it.
    console.warn("switchboard:", frame.code, frame.detail);
    return;
  }
  showError(frame.detail);
}

/** The room ended for this page: nothing more can be sent, and what was on its way failed. */
export function closeComposer({ text, placeholder }) {
  input.disabled = true;
  sendButton.disabled = true;
  document.getElementById("attach-button").disabled = true;
  input.placeholder = placeholder;
  mentions.close();
  for (const clientId of pending.keys()) {
    if (pending.get(clientId).classList.contains("sending")) markFailed(clientId, text);
  }
  for (const retry of list.querySelectorAll(".retry")) retry.disabled = true;
  clearNotices();
}

export function focusComposer() {
  input.focus();
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  send();
  input.focus();
});

input.addEventListener("keydown", (event) => {
  if (mentions.handleKeydown(event)) return;
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    send();
  } else if (event.key === "ArrowUp" && !input.value && !event.shiftKey && !event.altKey) {
    const seq = lastOwnSeq(); // like most chat apps: Up in an empty box edits your last message
    if (seq !== null && canChange(messages.get(seq))) {
      event.preventDefault();
      startEdit(seq);
    }
  }
});

input.addEventListener("input", () => {
  autosize();
  typed();
  showPreview();
});

// The preview: the message as it will show, by the renderer the list uses.
const preview = document.getElementById("composer-preview");
const previewToggle = document.getElementById("preview-toggle");

function showPreview() {
  const on = previewToggle.getAttribute("aria-pressed") === "true";
  preview.hidden = !on || !input.value.trim();
  if (!preview.hidden) renderBody(preview, input.value);
}

previewToggle.addEventListener("click", () => {
  const on = previewToggle.getAttribute("aria-pressed") !== "true";
  previewToggle.setAttribute("aria-pressed", String(on));
  showPreview();
});
