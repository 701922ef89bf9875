// Stands in for pyTorrent's server on the harness page: a fake window.io and
// a fetch that answers the REST contract from synthetic rows. Query string:
// rows=N (default 50), unreachable=1, deleteData=0.
import { makeRows } from "./rows.js";

const params = new URLSearchParams(location.search);
const rows = makeRows(Number(params.get("rows") || 50));
const unreachable = params.get("unreachable") === "1";
const log = [];

function status(id) {
  return unreachable
    ? { profile_id: id, connected: false, error: "connection refused (scgi://10.0.0.2:5000)" }
    : { profile_id: id, connected: true, client_version: "0.9.8", down_rate: 2300000,
        up_rate: 410000, torrents: rows.length };
}

class FakeSocket {
  constructor() {
    this.handlers = new Map();
    this.connected = false;
    setTimeout(() => { this.connected = true; this.fire("connect"); }, 10);
  }
  on(name, fn) {
    if (!this.handlers.has(name)) this.handlers.set(name, []);
    this.handlers.get(name).push(fn);
  }
  fire(name, data) {
    for (const fn of this.handlers.get(name) || []) fn(data);
  }
  emit(name, data, ack) {
    log.push({ socket: name, data });
    if (name !== "profile:join") return;
    ack?.({ ok: true });
    const id = data.profile_id;
    setTimeout(() => {
      this.fire("torrents:snapshot", { profile_id: id, revision: 1, torrents: rows });
      this.fire("profile:status", status(id));
    }, 0);
  }
}

let socket = null;
window.io = () => (socket = new FakeSocket());

const json = (body, code = 200) => new Response(JSON.stringify(body),
  { status: code, headers: { "Content-Type": "application/json" } });

window.fetch = async (url, init = {}) => {
  const method = init.method || "GET";
  let body = init.body;
  if (body instanceof FormData) body = { files: body.getAll("torrent").map((f) => f.name), label: body.get("label") };
  else if (typeof body === "string") body = JSON.parse(body);
  log.push({ method, url: String(url), body, contentType: (init.headers || {})["Content-Type"] });
  const path = String(url).replace(/^\//, "");
  let m;
  if ((m = path.match(/^api\/profiles\/(\d+)$/))) {
    return json({ profile: { id: Number(m[1]), name: "Home", labels: ["linux", "movies", "music", "tv"],
      delete_data: params.get("deleteData") !== "0" } });
  }
  if ((m = path.match(/^api\/profiles\/(\d+)\/status$/))) return json(status(Number(m[1])));
  if (path.match(/\/activate$/)) return json({ ok: true });
  if (path.match(/\/torrents\/actions$/)) {
    return json({ results: Object.fromEntries(body.hashes.map((h, i) => [h, i === 1 ? "tracker timeout" : "ok"])) });
  }
  if (path.match(/\/torrents$/) && method === "POST") {
    const items = body.files || body.uris || [];
    const errors = items.filter((i) => /bad/.test(i)).map((item) => ({ item, error: "not a valid torrent" }));
    const added = items.filter((i) => !/bad/.test(i)).map((_, i) => `${i}`.padStart(40, "f"));
    return json(errors.length ? { added, errors } : { added }, errors.length && !added.length ? 400 : 201);
  }
  if ((m = path.match(/\/torrents\/([0-9a-f]{40})$/))) {
    const row = rows.find((r) => r.hash === m[1]);
    return json({ ...row,
      files: [{ path: `${row.name}/disc.iso`, size: row.size, progress: row.progress, priority: 1 }],
      trackers: [{ url: "udp://tracker.example:6969/announce", type: 2, enabled: true, seeders: 40, leechers: 3 }],
      peers: [{ address: "198.51.100.7:51413", client: "Transmission 4.0", down_rate: 12000, up_rate: 800, progress: 0.5 }] });
  }
  return json({ error: "not found" }, 404);
};

window.fakeServer = {
  log,
  rows,
  fire: (name, data) => socket.fire(name, data),
  disconnect() { socket.connected = false; socket.fire("disconnect"); },
  reconnect() { socket.connected = true; socket.fire("connect"); },
};
