// Home page: the create-room form posts to the REST API with the CSRF token.
import { api } from "./api.js";

const form = document.getElementById("create-room");

form?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const data = new FormData(form);
  const errorBox = form.querySelector(".field-error");
  const button = form.querySelector("button[type=submit]");
  errorBox.hidden = true;
  button.disabled = true;
  const result = await api("POST", form.dataset.api, {
    name: data.get("name"),
    topic: data.get("topic") || "",
    is_private: data.get("is_private") === "on",
  });
  if (result.ok && result.data?.slug) {
    window.location.href = `/rooms/${encodeURIComponent(result.data.slug)}/`;
    return;
  }
  errorBox.textContent = result.error ?? "Could not create the room.";
  errorBox.hidden = false;
  button.disabled = false;
});
