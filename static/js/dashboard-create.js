// Home page: the "New dashboard" dialog posts to /api/dashboards/ and opens the new dashboard.
import { api } from "./api.js";

const dialog = document.getElementById("dashboard-dialog");
const form = document.getElementById("create-dashboard");
const opener = document.getElementById("new-dashboard");

if (dialog && form && opener) {
  const errorBox = form.querySelector(".field-error");
  const button = form.querySelector("button[type=submit]");

  opener.addEventListener("click", () => {
    errorBox.hidden = true;
    dialog.showModal();
  });
  form.querySelector("[data-cancel]").addEventListener("click", () => dialog.close());
  opener.hidden = false; // shown once it works

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const name = String(data.get("name") ?? "").trim();
    errorBox.hidden = true;
    if (!name) {
      errorBox.textContent = "Give the dashboard a name.";
      errorBox.hidden = false;
      return;
    }
    button.disabled = true;
    const result = await api("POST", form.dataset.api, { name, is_public: data.get("is_public") === "on" });
    if (result.ok && result.data?.slug) {
      window.location.href = `/dashboards/${encodeURIComponent(result.data.slug)}/`;
      return;
    }
    errorBox.textContent = result.error ?? "Could not create the dashboard.";
    errorBox.hidden = false;
    button.disabled = false;
  });
}
