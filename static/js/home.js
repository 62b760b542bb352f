// Home page: the create-room form posts to the REST API with the CSRF token.
const form = document.getElementById("create-room");

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

form?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const data = new FormData(form);
  const errorBox = form.querySelector(".field-error");
  const response = await fetch(form.dataset.api, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
    body: JSON.stringify({
      name: data.get("name"),
      topic: data.get("topic") || "",
      is_private: data.get("is_private") === "on",
    }),
  });
  const payload = await response.json();
  if (response.ok) {
    window.location.href = `/rooms/${encodeURIComponent(payload.slug)}/`;
    return;
  }
  errorBox.textContent = payload.detail ?? Object.values(payload).flat().join(" ");
  errorBox.hidden = false;
});
