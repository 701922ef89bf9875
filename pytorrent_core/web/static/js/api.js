// REST helper. Paths are relative to the page, so a reverse proxy's path prefix is kept.
// Unsafe requests send JSON (or multipart for .torrent uploads); the browser's
// Origin header is what the server's CSRF check reads.

export class ApiError extends Error {
  constructor(message, status, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

export async function api(path, { method = "GET", json, form } = {}) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (form !== undefined) {
    init.body = form; // the browser sets the multipart boundary
  }
  let reply;
  try {
    reply = await fetch(path.replace(/^\//, ""), init);
  } catch (error) {
    throw new ApiError(`network error: ${error.message}`, 0, null);
  }
  const body = await reply.json().catch(() => null);
  if (!reply.ok) {
    const message = (body && body.error) || `HTTP ${reply.status}`;
    throw new ApiError(message, reply.status, body);
  }
  return body;
}

export const profilePath = (id, rest = "") => `api/profiles/${encodeURIComponent(id)}${rest}`;
