// @mention autocomplete for the composer. The textarea stays a textbox (the contract's
// "Message"); while suggestions show it points at a role="listbox" with aria-controls and at
// the active option with aria-activedescendant. Arrow keys move, Enter or Tab picks, Escape
// closes; a click or tap on an option picks it too.
import { el, hueFor } from "./ui.js";

const TRIGGER = /(?:^|[^\w@])@([\w.+-]{0,150})$/;
const MAX_OPTIONS = 8;

export class MentionAutocomplete {
  /**
   * @param {HTMLTextAreaElement} input
   * @param {HTMLElement} listbox  an empty element to fill with options
   * @param {() => Array<{username, role?}>} people  who can be mentioned
   */
  constructor(input, listbox, people) {
    this.input = input;
    this.listbox = listbox;
    this.people = people;
    this.options = [];
    this.active = 0;
    this.query = null;
    listbox.setAttribute("role", "listbox");
    listbox.setAttribute("aria-label", "People to mention");
    listbox.hidden = true;
    input.setAttribute("aria-autocomplete", "list");
    // A pointer press on an option must not take focus from the textbox.
    listbox.addEventListener("mousedown", (event) => event.preventDefault());
    listbox.addEventListener("click", (event) => {
      const option = event.target.closest("[role=option]");
      if (option) this.pick(Number(option.dataset.index));
    });
    input.addEventListener("input", () => this.update());
    input.addEventListener("click", () => this.update());
    input.addEventListener("blur", () => this.close());
    input.addEventListener("keyup", (event) => {
      if (event.key === "ArrowLeft" || event.key === "ArrowRight" || event.key === "Home" || event.key === "End") {
        this.update();
      }
    });
  }

  get isOpen() {
    return !this.listbox.hidden;
  }

  /** Call first from the textbox's keydown; true when the key was for the suggestions. */
  handleKeydown(event) {
    if (!this.isOpen || event.isComposing) return false;
    const n = this.options.length;
    const keys = {
      ArrowDown: () => this.highlight((this.active + 1) % n),
      ArrowUp: () => this.highlight((this.active - 1 + n) % n),
      Enter: () => this.pick(this.active),
      Tab: () => this.pick(this.active),
      Escape: () => this.close(),
    };
    if (event.shiftKey && event.key !== "Tab") return false;
    const action = keys[event.key];
    if (!action) return false;
    event.preventDefault();
    event.stopPropagation();
    action();
    return true;
  }

  update() {
    const { value, selectionStart, selectionEnd } = this.input;
    const match = selectionStart === selectionEnd ? value.slice(0, selectionStart).match(TRIGGER) : null;
    if (!match) return this.close();
    const query = match[1].toLowerCase();
    const everyone = this.people();
    const starts = everyone.filter((p) => p.username.toLowerCase().startsWith(query));
    const contains = everyone.filter(
      (p) => !p.username.toLowerCase().startsWith(query) && p.username.toLowerCase().includes(query),
    );
    const found = [...starts, ...contains].slice(0, MAX_OPTIONS);
    if (!found.length) return this.close();
    const same = this.query === query && found.length === this.options.length;
    this.query = query;
    this.options = found;
    this.render(same ? Math.min(this.active, found.length - 1) : 0);
  }

  render(active) {
    this.listbox.replaceChildren(
      ...this.options.map((person, index) => {
        const option = el("li", "mention-option");
        option.id = `mention-option-${index}`;
        option.setAttribute("role", "option");
        option.dataset.index = index;
        const face = el("span", "avatar");
        face.setAttribute("aria-hidden", "true");
        face.dataset.initial = person.username.slice(0, 1).toUpperCase();
        face.style.setProperty("--hue", hueFor(person.username));
        option.append(face, el("span", "mention-name", person.username));
        if (person.role && person.role !== "member") option.append(el("span", "mention-role", person.role));
        return option;
      }),
    );
    this.listbox.hidden = false;
    this.input.setAttribute("aria-controls", this.listbox.id);
    this.highlight(active);
  }

  highlight(index) {
    this.active = index;
    for (const option of this.listbox.children) {
      const on = Number(option.dataset.index) === index;
      option.setAttribute("aria-selected", String(on));
      if (on) {
        this.input.setAttribute("aria-activedescendant", option.id);
        option.scrollIntoView({ block: "nearest" });
      }
    }
  }

  pick(index) {
    const person = this.options[index];
    if (!person) return this.close();
    const { value, selectionStart } = this.input;
    const before = value.slice(0, selectionStart);
    const after = value.slice(selectionStart);
    const start = before.lastIndexOf("@");
    const insert = `@${person.username}${after.startsWith(" ") ? "" : " "}`;
    this.input.value = before.slice(0, start) + insert + after;
    const caret = start + insert.length + (after.startsWith(" ") ? 1 : 0);
    this.input.setSelectionRange(caret, caret);
    this.close();
    this.input.dispatchEvent(new Event("input", { bubbles: true }));
  }

  close() {
    if (this.listbox.hidden) return;
    this.listbox.hidden = true;
    this.listbox.replaceChildren();
    this.options = [];
    this.query = null;
    this.input.removeAttribute("aria-activedescendant");
    this.input.removeAttribute("aria-controls");
  }
}
