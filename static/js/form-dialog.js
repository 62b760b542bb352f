// A <dialog> holding a form, opened by a button: Cancel closes it, the focus goes back to the
// button, and its error line says what went wrong (the home page's "New dashboard" and
// "New message" dialogs).

/** Wire the dialog; `submit(form)` resolves to an error sentence, or null when done. */
export function formDialog({ dialog, form, opener, submit }) {
  const errorBox = form.querySelector(".field-error");
  const button = form.querySelector("button[type=submit]");
  const fail = (text) => {
    errorBox.textContent = text;
    errorBox.hidden = false;
  };
  opener.addEventListener("click", () => {
    errorBox.hidden = true;
    dialog.showModal();
  });
  form.querySelector("[data-cancel]").addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => opener.focus());
  opener.hidden = false; // shown once it works
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errorBox.hidden = true;
    button.disabled = true;
    try {
      const error = await submit(new FormData(form));
      if (error) fail(error);
    } finally {
      button.disabled = false;
    }
  });
}
