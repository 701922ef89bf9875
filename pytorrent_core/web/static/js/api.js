// REST helper. Paths are relative to pyTorrent's root (the brand link in the top bar),
// so a reverse proxy's path prefix is kept on every page, /admin/... included.
// Unsafe requests send JSON (or multipart for .torrent uploads); the browser's
// Origin header is what the server's CSRF check reads.

export class ApiError extends Error {
  constructor(message, status, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

function appRoot() {
  const brand = document.querySelector(".topbar a.brand");
  return brand ? brand.href : document.baseURI;
}

export function appUrl(path) {
  const url = new URL(path.replace(/^\//, ""), appRoot());
  return url.origin === window.location.origin ? url.pathname + url.search : url.href;
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
    reply = await fetch(appUrl(path), init);
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
