// The connection pill in the room's header and the banner above the messages: connecting,
// live, live over the fallback, reconnecting with a countdown, offline, and ended for good.
import { CloseCode, closeInfo } from "../closecodes.js";
import { el } from "../ui.js";
import { socket } from "./page.js";

const connState = document.getElementById("conn-state");
const banner = document.getElementById("conn-banner");
const bannerText = document.getElementById("conn-banner-text");
const bannerAction = document.getElementById("conn-banner-action");

const LIMITED_TEXT =
  "Live updates via a fallback connection (WebSockets seem blocked on this network). " +
  "Typing indicators and who's online are unavailable.";

const loginAgain = () => `/accounts/login/?next=${encodeURIComponent(window.location.pathname).replaceAll("%2F", "/")}`;

// What the room page offers after each final close code; the wording of the code itself is
// closecodes.js's.
const ENDED = new Map([
  [
    CloseCode.SESSION_ENDED,
    { more: "Log in again to keep chatting.", link: ["Log in", loginAgain], placeholder: "Log in again to send" },
  ],
  [CloseCode.ACCESS_REVOKED, { link: ["Back to all rooms", () => "/"], placeholder: "You no longer have access" }],
  [CloseCode.ABUSE, { button: ["Reload", () => window.location.reload()], placeholder: "Reload the page to send" }],
]);

let countdown = null;

function showBanner(text, { link = null, button = null, tone = "warn" } = {}) {
  banner.hidden = false;
  banner.dataset.tone = tone;
  bannerText.textContent = text;
  if (link) {
    const a = el("a", "banner-link", link[0]);
    a.href = link[1]();
    bannerAction.replaceChildren(a);
  } else if (button) {
    const b = el("button", "small-button", button[0]);
    b.type = "button";
    b.addEventListener("click", button[1]);
    bannerAction.replaceChildren(b);
  } else {
    bannerAction.replaceChildren();
  }
}

function hideBanner() {
  banner.hidden = true;
  bannerAction.replaceChildren();
}

/** Show a LiveSocket "state" frame (anything but `ended`, which is endedBanner's). */
export function showConnection({ state, retryAt, attempt = 0, limited = false }) {
  clearInterval(countdown);
  countdown = null;
  const live = state === "live";
  const again = state === "connecting" && attempt > 0;
  connState.dataset.state = again ? "reconnecting" : live && limited ? "limited" : state;
  if (live && limited) {
    connState.textContent = "Live (limited)";
    showBanner(LIMITED_TEXT, { tone: "info" });
  } else if (live) {
    connState.textContent = "Live";
    hideBanner();
  } else if (state === "connecting") {
    connState.textContent = again ? "Reconnecting…" : "Connecting…";
    if (again) showBanner("Reconnecting…");
  } else if (state === "reconnecting" || state === "offline") {
    connState.textContent = state === "offline" ? "Offline" : "Reconnecting…";
    const tick = () => {
      const seconds = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
      const when = seconds > 0 ? `Retrying in ${seconds}s.` : "Retrying…";
      showBanner(
        state === "offline"
          ? `You're offline. Messages you write go out once you're back. ${when}`
          : `Connection lost. ${when}`,
        { button: ["Retry now", () => socket.reconnectNow()], tone: state === "offline" ? "danger" : "warn" },
      );
    };
    tick();
    countdown = setInterval(tick, 500);
  } else if (state !== "ended") {
    connState.textContent = "Offline";
  }
}

/** The socket closed for good with `code`: say so; returns {text, placeholder} for the composer. */
export function showEnded(code) {
  const { label, text } = closeInfo(code);
  const how = ENDED.get(code) ?? { link: ["Back to all rooms", () => "/"], placeholder: "Reload the page to send" };
  const sentence = how.more ? `${text} ${how.more}` : text;
  connState.textContent = label;
  showBanner(sentence, { link: how.link, button: how.button, tone: "danger" });
  return { text: sentence, placeholder: how.placeholder };
}
