// The two lines under the composer: an error (something did not work) and a notice (why a
// message was not sent, e.g. muted).
import { el, icon } from "../ui.js";

const errorBox = document.getElementById("composer-error");
const notice = document.getElementById("composer-notice");

export function showError(text) {
  errorBox.replaceChildren(document.createTextNode(text));
  errorBox.hidden = false;
}

export function showNotice(text) {
  notice.replaceChildren(icon("mute", 18), el("span", "", text));
  notice.hidden = false;
}

export function clearError() {
  errorBox.hidden = true;
}

export function clearNotices() {
  errorBox.hidden = true;
  notice.hidden = true;
}
