// The REST API as the logged-in browser user: session cookie, and the CSRF token on writes.

export function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export function describeError(payload, status) {
  if (status === 0) return "Could not reach the server. Check your connection and try again.";
  if (status === 429) return "Too many requests just now. Try again in a moment.";
  if (!payload || typeof payload !== "object") return `The server refused that (HTTP ${status}).`;
  if (payload.detail) return String(payload.detail);
  return Object.values(payload).flat().map(String).join(" ") || `The server refused that (HTTP ${status}).`;
}

/** fetch() with JSON in and out; never throws: {ok, status, data, error}. */
export async function api(method, path, body, { keepalive = false } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && method !== "HEAD") headers["X-CSRFToken"] = csrfToken();
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
      keepalive,
    });
  } catch {
    return { ok: false, status: 0, data: null, error: describeError(null, 0) };
  }
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  return {
    ok: response.ok,
    status: response.status,
    data,
    error: response.ok ? null : describeError(data, response.status),
  };
}
