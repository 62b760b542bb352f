// Toasts: short messages in the corner (role="status"), dismissed by a button or after a while
// (the timer pauses while the pointer or focus is on the toast). Text only, via textContent.
import { el, icon } from "./ui.js";

const MAX_TOASTS = 4;

function region() {
  let node = document.getElementById("toasts");
  if (!node) {
    node = el("div", "toasts");
    node.id = "toasts";
    document.body.append(node);
  }
  return node;
}

/**
 * @param {object} options
 *   title: the first line; body: more text; href: makes the title a link
 *   tone: "info" | "success" | "error" | "mention" | "alert"
 *   timeout: ms before it goes by itself; 0 keeps it until dismissed
 */
export function toast({ title, body = "", href = null, tone = "info", timeout = 7000, onOpen = null } = {}) {
  const box = region();
  const node = el("div", "toast");
  node.setAttribute("role", "status");
  node.setAttribute("aria-atomic", "true");
  node.dataset.tone = tone;

  const text = el("div", "toast-text");
  let heading;
  if (href) {
    heading = el("a", "toast-title", title);
    heading.href = href;
    heading.addEventListener("click", () => {
      onOpen?.();
      close();
    });
  } else {
    heading = el("p", "toast-title", title);
  }
  text.append(heading);
  if (body) text.append(el("p", "toast-body", body));

  const dismiss = el("button", "toast-close");
  dismiss.type = "button";
  dismiss.setAttribute("aria-label", "Dismiss");
  dismiss.append(icon("close", 16));
  dismiss.addEventListener("click", () => close());

  node.append(text, dismiss);
  box.append(node);
  while (box.children.length > MAX_TOASTS) box.firstElementChild.remove();

  let timer = null;
  let closed = false;
  const start = () => {
    if (timeout > 0 && !closed) timer = setTimeout(close, timeout);
  };
  const pause = () => clearTimeout(timer);
  node.addEventListener("mouseenter", pause);
  node.addEventListener("mouseleave", () => node.contains(document.activeElement) || start());
  node.addEventListener("focusin", pause);
  node.addEventListener("focusout", (event) => node.contains(event.relatedTarget) || start());

  function close() {
    if (closed) return;
    closed = true;
    clearTimeout(timer);
    const hadFocus = node.contains(document.activeElement);
    node.remove();
    if (hadFocus) document.getElementById("main")?.focus?.();
  }

  start();
  return { node, close };
}
