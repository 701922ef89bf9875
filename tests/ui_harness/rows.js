// Synthetic torrents for the UI harness: deterministic, so tests can name rows.

const STATES = ["downloading", "seeding", "paused", "stopped", "checking", "error"];
const LABELS = ["linux", "movies", "", "music"];
const WORDS = ["debian", "ubuntu", "arch", "fedora", "mint", "netbsd", "alpine", "gentoo"];

export function hashOf(i) {
  return i.toString(16).padStart(40, "0");
}

export function makeRow(i) {
  const state = STATES[i % STATES.length];
  const progress = state === "seeding" ? 1 : ((i * 37) % 100) / 100;
  const size = ((i * 7919) % 50000 + 1) * 1024 * 1024;
  return {
    hash: hashOf(i),
    name: `${WORDS[i % WORDS.length]}-${i}.iso`,
    size,
    completed: Math.round(size * progress),
    progress,
    state,
    down_rate: state === "downloading" ? (i * 1013) % 5000000 : 0,
    up_rate: (i * 577) % 800000,
    ratio: ((i * 13) % 300) / 100,
    label: LABELS[i % LABELS.length],
    peers: i % 40,
    seeds: i % 17,
    eta: state === "downloading" ? (i * 97) % 90000 : null,
    added_at: 1700000000 + i * 3600,
    finished_at: state === "seeding" ? 1700000000 + i * 3600 + 1800 : null,
    message: state === "error" ? "Tracker: unregistered torrent" : "",
    directory: "/data/downloads",
  };
}

export function makeRows(n) {
  const rows = [];
  for (let i = 0; i < n; i += 1) rows.push(makeRow(i));
  return rows;
}
