// Home page: the create-room form posts to the REST API with the CSRF token.
const form = document.getElementById("create-room");

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

function describeError(payload, status) {
  if (!payload || typeof payload !== "object") return `Could not create the room (HTTP ${status}).`;
  if (payload.detail) return String(payload.detail);
  return Object.values(payload).flat().map(String).join(" ") || `Could not create the room (HTTP ${status}).`;
}

form?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const data = new FormData(form);
  const errorBox = form.querySelector(".field-error");
  const button = form.querySelector("button[type=submit]");
  errorBox.hidden = true;
  button.disabled = true;
  try {
    const response = await fetch(form.dataset.api, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify({
        name: data.get("name"),
        topic: data.get("topic") || "",
        is_private: data.get("is_private") === "on",
      }),
    });
    const payload = await response.json().catch(() => null);
    if (response.ok && payload?.slug) {
      window.location.href = `/rooms/${encodeURIComponent(payload.slug)}/`;
      return;
    }
    errorBox.textContent = describeError(payload, response.status);
  } catch {
    errorBox.textContent = "Could not reach the server. Check your connection and try again.";
  }
  errorBox.hidden = false;
  button.disabled = false;
});
