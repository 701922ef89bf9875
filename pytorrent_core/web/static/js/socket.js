// The Socket.IO connection: badge, profile room join, re-join on reconnect,
// and fan-out of the server's events as DOM events on this object.
//
// Events dispatched (detail = the server's payload): "torrents:snapshot",
// "torrents:diff", "profile:status", "profile:left", "profile:labels" (only for
// the joined profile), plus "online", "offline" and "joinerror".

const FORWARDED = ["torrents:snapshot", "torrents:diff", "profile:status", "profile:left",
  "profile:labels"];

function socketPath() {
  const meta = document.querySelector('meta[name="pytorrent-socket-path"]');
  return meta ? meta.content : "/socket.io";
}

export class Connection extends EventTarget {
  constructor(badge) {
    super();
    this.badge = badge;
    this.socket = null;
    this.profileId = null;
    this.show("offline");
  }

  show(state) {
    if (!this.badge) return;
    this.badge.textContent = state;
    this.badge.dataset.state = state;
    this.badge.classList.toggle("online", state === "online");
    this.badge.classList.toggle("offline", state !== "online");
  }

  start() {
    if (typeof window.io !== "function") return this;
    // Same origin: the browser sends the session cookie with the handshake, and
    // the server resolves it exactly as it does for REST requests. The page says
    // where Socket.IO lives: under a reverse proxy's path prefix, not at the root.
    const socket = window.io({ path: socketPath(), withCredentials: true });
    this.socket = socket;
    socket.on("connect", () => {
      performance.mark("pytorrent:socket:connect");
      this.show("online");
      this._emit("online", {});
      if (this.profileId !== null) this._join(); // a new snapshot follows
    });
    socket.on("disconnect", () => {
      this.show("offline");
      this._emit("offline", {});
    });
    socket.on("connect_error", () => this.show("offline"));
    for (const name of FORWARDED) {
      socket.on(name, (data) => {
        if (data && data.profile_id === this.profileId) this._emit(name, data);
      });
    }
    window.pytorrentSocket = socket;
    return this;
  }

  join(profileId) {
    this.profileId = profileId;
    if (this.socket && this.socket.connected) this._join();
  }

  _join() {
    const id = this.profileId;
    performance.mark("pytorrent:socket:join");
    this.socket.emit("profile:join", { profile_id: id }, (ack) => {
      if (!ack || ack.error) this._emit("joinerror", { profile_id: id, ...(ack || {}) });
    });
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
