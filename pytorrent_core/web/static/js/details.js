// Details panel: tabs general / files / trackers / peers for one torrent,
// fetched from GET /api/profiles/{id}/torrents/{hash} and refreshed while open.

import { api, profilePath } from "./api.js";
import * as fmt from "./format.js";

const TABS = [["general", "General"], ["files", "Files"], ["trackers", "Trackers"], ["peers", "Peers"]];
const REFRESH_MS = 5000;

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "className") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

function table(columns, rows) {
  const head = el("tr", {}, ...columns.map(([title, , num]) => el("th", { scope: "col", className: num ? "num" : "" }, title)));
  const body = rows.map((row) => el("tr", {}, ...columns.map(([, value, num]) => {
    const cell = el("td", { className: num ? "num" : "" });
    cell.textContent = value(row);
    return cell;
  })));
  return el("table", {}, el("thead", {}, head), el("tbody", {}, ...body));
}

export class Details {
  constructor(section, profileId) {
    this.section = section;
    this.profileId = profileId;
    this.hash = null;
    this.data = null;
    this.tab = "general";
    this.timer = 0;
    this.tabs = new Map();
    const list = el("div", { className: "tabs", role: "tablist", "aria-label": "Torrent details" });
    for (const [key, title] of TABS) {
      const tab = el("button", { type: "button", role: "tab", id: `tab-${key}`,
        "aria-controls": "details-panel", "aria-selected": "false", tabindex: "-1" }, title);
      tab.dataset.tab = key;
      list.append(tab);
      this.tabs.set(key, tab);
    }
    this.close = el("button", { type: "button", className: "close", "aria-label": "Close details" }, "✕");
    list.append(this.close);
    this.panel = el("div", { className: "tab-panel", role: "tabpanel", id: "details-panel", tabindex: "0" });
    section.replaceChildren(list, this.panel);
    section.hidden = true;
    list.addEventListener("click", (event) => {
      const tab = event.target.closest("[role=tab]");
      if (tab) this.select(tab.dataset.tab);
    });
    list.addEventListener("keydown", (event) => {
      const keys = [...this.tabs.keys()];
      const at = keys.indexOf(this.tab);
      const next = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: keys.length - 1 }[event.key];
      if (next === undefined || !event.target.closest("[role=tab]")) return;
      event.preventDefault();
      this.select(keys[(next + keys.length) % keys.length]);
      this.tabs.get(this.tab).focus();
    });
    this.close.addEventListener("click", () => this.hide());
    this.select("general");
  }

  setProfile(profileId) {
    this.profileId = profileId;
    this.hide();
  }

  select(key) {
    this.tab = key;
    for (const [name, tab] of this.tabs) {
      tab.setAttribute("aria-selected", String(name === key));
      tab.tabIndex = name === key ? 0 : -1;
    }
    this.panel.setAttribute("aria-labelledby", `tab-${key}`);
    this.render();
  }

  async show(hash) {
    if (this.hash !== hash) this.data = null;
    this.hash = hash;
    this.section.hidden = false;
    this.render();
    await this.refresh();
  }

  hide() {
    this.hash = null;
    this.data = null;
    this.section.hidden = true;
    clearTimeout(this.timer);
  }

  async refresh() {
    clearTimeout(this.timer);
    const hash = this.hash;
    if (!hash) return;
    try {
      const data = await api(profilePath(this.profileId, `/torrents/${encodeURIComponent(hash)}`));
      if (this.hash !== hash) return;
      this.data = data;
      this.error = null;
    } catch (error) {
      if (this.hash !== hash) return;
      this.error = error.message;
    }
    this.render();
    this.timer = setTimeout(() => this.refresh(), REFRESH_MS);
  }

  render() {
    const d = this.data;
    if (!this.hash) return;
    if (!d) {
      this.panel.replaceChildren(el("p", { className: this.error ? "error" : "" },
        this.error ? `Could not load details: ${this.error}` : "Loading…"));
      return;
    }
    const content = {
      general: () => {
        const rows = [["Name", d.name], ["Info-hash", d.hash], ["State", fmt.stateLabel(d.state)],
          ["Size", fmt.bytes(d.size)], ["Done", `${fmt.bytes(d.completed)} (${fmt.percent(d.progress)})`],
          ["Ratio", fmt.ratio(d.ratio)], ["Label", d.label || "—"], ["Directory", d.directory || ""],
          ["Added", fmt.exactTime(d.added_at)], ["Finished", fmt.exactTime(d.finished_at) || "—"],
          ["Message", d.message || "—"]];
        return el("dl", {}, ...rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, String(v ?? ""))]));
      },
      files: () => table([["Path", (f) => f.path], ["Size", (f) => fmt.bytes(f.size), true],
        ["Progress", (f) => fmt.percent(f.progress), true], ["Priority", (f) => String(f.priority)]], d.files || []),
      trackers: () => table([["URL", (t) => t.url], ["Type", (t) => String(t.type ?? "")],
        ["Enabled", (t) => (t.enabled ? "yes" : "no")], ["Seeders", (t) => String(t.seeders ?? ""), true],
        ["Leechers", (t) => String(t.leechers ?? ""), true]], d.trackers || []),
      peers: () => table([["Address", (p) => p.address], ["Client", (p) => p.client || ""],
        ["Down", (p) => fmt.speed(p.down_rate), true], ["Up", (p) => fmt.speed(p.up_rate), true],
        ["Progress", (p) => fmt.percent(p.progress), true]], d.peers || []),
    }[this.tab]();
    this.panel.replaceChildren(content);
  }
}
