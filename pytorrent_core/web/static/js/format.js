// Human-readable numbers for the torrent page. Pure functions, no DOM.

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

export function bytes(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "";
  let n = Math.max(0, Number(value));
  let unit = 0;
  while (n >= 1024 && unit < UNITS.length - 1) {
    n /= 1024;
    unit += 1;
  }
  const digits = unit === 0 || n >= 100 ? 0 : n >= 10 ? 1 : 2;
  return `${n.toFixed(digits)} ${UNITS[unit]}`;
}

export function speed(value) {
  if (!value) return "";
  return `${bytes(value)}/s`;
}

export function percent(fraction) {
  const p = Math.max(0, Math.min(1, Number(fraction) || 0)) * 100;
  return p >= 100 ? "100%" : `${p.toFixed(1)}%`;
}

export function ratio(value) {
  if (value === null || value === undefined) return "";
  return Number(value).toFixed(2);
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined || seconds < 0) return "";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${m % 60}m`;
  const d = Math.floor(h / 24);
  if (d < 365) return `${d}d ${h % 24}h`;
  return "∞";
}

export function eta(seconds) {
  return seconds === null || seconds === undefined ? "" : duration(seconds);
}

export function exactTime(epochSeconds) {
  if (!epochSeconds) return "";
  return new Date(epochSeconds * 1000).toLocaleString();
}

const RELATIVE = typeof Intl !== "undefined" && Intl.RelativeTimeFormat
  ? new Intl.RelativeTimeFormat(undefined, { numeric: "auto", style: "short" })
  : null;

// "3 hr. ago"; the exact time belongs in the element's title (see exactTime).
export function relative(epochSeconds, now = Date.now() / 1000) {
  if (!epochSeconds) return "";
  const delta = epochSeconds - now;
  const abs = Math.abs(delta);
  const steps = [[60, "second", 1], [3600, "minute", 60], [86400, "hour", 3600],
    [86400 * 30, "day", 86400], [86400 * 365, "month", 86400 * 30],
    [Infinity, "year", 86400 * 365]];
  for (const [limit, unit, size] of steps) {
    if (abs < limit) {
      const value = Math.round(delta / size);
      return RELATIVE ? RELATIVE.format(value, unit) : `${value} ${unit}`;
    }
  }
  return "";
}

export const STATE_LABELS = {
  downloading: "Downloading",
  seeding: "Seeding",
  paused: "Paused",
  stopped: "Stopped",
  checking: "Checking",
  error: "Error",
};

export function stateLabel(state) {
  return STATE_LABELS[state] || state || "";
}
