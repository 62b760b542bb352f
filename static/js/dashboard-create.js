// Home page: the "New dashboard" dialog posts to /api/dashboards/ and opens the new dashboard.
import { api } from "./api.js";
import { formDialog } from "./form-dialog.js";

const dialog = document.getElementById("dashboard-dialog");
const form = document.getElementById("create-dashboard");
const opener = document.getElementById("new-dashboard");

if (dialog && form && opener) {
  formDialog({
    dialog,
    form,
    opener,
    async submit(data) {
      const name = String(data.get("name") ?? "").trim();
      if (!name) return "Give the dashboard a name.";
      const result = await api("POST", form.dataset.api, { name, is_public: data.get("is_public") === "on" });
      if (result.ok && result.data?.slug) {
        window.location.href = `/dashboards/${encodeURIComponent(result.data.slug)}/`;
        return null;
      }
      return result.error ?? "Could not create the dashboard.";
    },
  });
}
