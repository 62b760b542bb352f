// Menu buttons (WAI-ARIA menu button pattern): a button with aria-haspopup="menu" opens a
// role="menu" of role="menuitem" buttons. Arrow keys, Home and End move, Enter or Space picks,
// Escape or Tab closes and gives focus back to the button; a click elsewhere closes it.
import { el, icon } from "./ui.js";

let current = null; // {button, menu, cleanup}

export function closeMenu({ focusButton = false } = {}) {
  if (!current) return;
  const { button, menu, cleanup } = current;
  current = null;
  cleanup();
  menu.remove();
  button.setAttribute("aria-expanded", "false");
  if (focusButton && button.isConnected) button.focus();
}

let counter = 0;

/**
 * A button that opens a menu.
 * @param {object} options  label (accessible name), className, iconName, items: () => [{label, action, danger}]
 */
export function menuButton({ label, className = "icon-button", iconName = "dots", items }) {
  const button = el("button", className);
  button.type = "button";
  button.id = `menu-button-${++counter}`;
  button.setAttribute("aria-label", label);
  button.setAttribute("aria-haspopup", "menu");
  button.setAttribute("aria-expanded", "false");
  button.append(icon(iconName, 18));
  button.addEventListener("click", () => {
    if (current?.button === button) closeMenu({ focusButton: true });
    else openMenu(button, items());
  });
  button.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      openMenu(button, items(), { focusLast: event.key === "ArrowUp" });
    }
  });
  return button;
}

export function openMenu(button, items, { focusLast = false } = {}) {
  closeMenu();
  const menu = el("ul", "menu");
  menu.setAttribute("role", "menu");
  menu.setAttribute("aria-labelledby", button.id);
  const entries = items.map(({ label, action, danger }) => {
    const li = el("li");
    li.setAttribute("role", "none");
    const item = el("button", danger ? "menu-item danger" : "menu-item", label);
    item.type = "button";
    item.setAttribute("role", "menuitem");
    item.tabIndex = -1;
    item.addEventListener("click", () => {
      closeMenu({ focusButton: true });
      action();
    });
    li.append(item);
    menu.append(li);
    return item;
  });
  document.body.append(menu);
  place(menu, button);

  const move = (delta) => {
    const at = entries.indexOf(document.activeElement);
    entries[(at + delta + entries.length) % entries.length].focus();
  };
  menu.addEventListener("keydown", (event) => {
    const keys = {
      ArrowDown: () => move(1),
      ArrowUp: () => move(-1),
      Home: () => entries[0].focus(),
      End: () => entries[entries.length - 1].focus(),
      Escape: () => closeMenu({ focusButton: true }),
      Tab: () => closeMenu({ focusButton: true }),
    };
    if (keys[event.key]) {
      event.preventDefault();
      keys[event.key]();
    } else if (event.key.length === 1 && /\S/.test(event.key)) {
      // Type-ahead: the next item starting with that letter.
      const at = entries.indexOf(document.activeElement);
      const order = [...entries.slice(at + 1), ...entries.slice(0, at + 1)];
      order.find((e) => e.textContent.toLowerCase().startsWith(event.key.toLowerCase()))?.focus();
    }
  });
  const outside = (event) => {
    if (!menu.contains(event.target) && !button.contains(event.target)) closeMenu();
  };
  // Only a scroll that moves the button moves the menu away from it: the messages list
  // scrolling beside the Online list (a new message, a page settling) leaves it open.
  const away = (event) => {
    const target = event.target;
    if (menu.contains(target)) return;
    if (target === document || target === window || target.contains?.(button)) closeMenu();
  };
  document.addEventListener("pointerdown", outside, true);
  window.addEventListener("scroll", away, true);
  window.addEventListener("resize", away);
  current = {
    button,
    menu,
    cleanup: () => {
      document.removeEventListener("pointerdown", outside, true);
      window.removeEventListener("scroll", away, true);
      window.removeEventListener("resize", away);
    },
  };
  button.setAttribute("aria-expanded", "true");
  (focusLast ? entries[entries.length - 1] : entries[0])?.focus();
}

// Below the button, right-aligned with it; above it when there is no room below.
function place(menu, button) {
  const rect = button.getBoundingClientRect();
  const width = menu.offsetWidth;
  const height = menu.offsetHeight;
  const left = Math.min(Math.max(8, rect.right - width), window.innerWidth - width - 8);
  let top = rect.bottom + 4;
  if (top + height > window.innerHeight - 8) top = Math.max(8, rect.top - height - 4);
  menu.style.left = `${left}px`;
  menu.style.top = `${top}px`;
}
