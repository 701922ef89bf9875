/* pyTorrent torrent page: wires the modules together.

   Structure of the UI
   -------------------
   Top bar: brand, profile switcher (only with several profiles; switching
   activates the profile, then re-joins its room), account menu (#whoami opens
   it; #username, #role inside), connection badge (#connection-badge,
   online/offline), log-out button (absent behind an external provider).

   Torrent page (#dashboard, data-active-profile, data-level):
   - banner: "rTorrent for this profile is unreachable: <error>. Retrying…"
     while profile:status says not connected; also when access is lost.
   - toolbar: Add…, Start, Pause, Stop, Recheck, Set label…, Remove… (absent
     for read-only users), Select all, selection count, name search.
   - sidebar: state filters (all, downloading, seeding, paused/stopped,
     checking, error) and label filters, each with its count.
   - table: ARIA grid keyed by info-hash; the server's snapshot loads it,
     each diff patches changed cells only; only rows in view exist in the DOM.
     Click, shift-click, ctrl/meta-click, Ctrl+A select; Enter or double-click
     opens details; right-click, the context-menu key or Shift+F10 opens the
     same actions as the toolbar; Delete asks to remove.
   - details: tabs general/files/trackers/peers for one torrent (REST).
   - status bar: live down/up speed graph (last five minutes of
     profile:status), current speeds, torrent count, rTorrent version.

   Other pages share base.html's top bar (whose account menu links to
   Account and, for admins, Admin) and this module's connection badge:
   /account (account.js: own password, own API tokens) and /admin/users,
   /admin/profiles, /admin/tokens (admin.js), which fill server-rendered
   shells from the same REST API.

   Data flow: Socket.IO carries the table (snapshot, then diffs) and status;
   REST is used for profile settings, details and every action. Nothing here
   decides access: the server does, and a 403 becomes an error toast. */

import { api, profilePath } from "./api.js";
import { AddDialog, LabelDialog, RemoveDialog } from "./dialogs.js";
import { Details } from "./details.js";
import { Filters } from "./filters.js";
import * as fmt from "./format.js";
import { SpeedGraph } from "./graph.js";
import { ContextMenu } from "./menu.js";
import { Connection } from "./socket.js";
import { TorrentTable } from "./table.js";
import { toast } from "./toast.js";

const ACTIONS = [
  { action: "start", title: "Start", verb: "Started" },
  { action: "pause", title: "Pause", verb: "Paused" },
  { action: "stop", title: "Stop", verb: "Stopped" },
  { action: "recheck", title: "Recheck", verb: "Rechecking" },
  { action: "label", title: "Set label…", verb: "Labelled" },
  { action: "remove", title: "Remove…", verb: "Removed" },
];
const VERBS = Object.fromEntries(ACTIONS.map((a) => [a.action, a.verb]));

const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

class TorrentPage {
  constructor(root, connection) {
    this.root = root;
    this.connection = connection;
    this.profile = { id: Number(root.dataset.activeProfile), labels: [], delete_data: false };
    this.canWrite = root.dataset.level === "full";
    this.haveSnapshot = false;
    this.banner = document.getElementById("unreachable-banner");
    this.table = new TorrentTable(document.getElementById("torrent-table"));
    this.filters = new Filters(document.getElementById("filters"), this.table,
      { search: document.getElementById("search") });
    this.details = new Details(document.getElementById("details"), this.profile.id);
    const canvas = document.getElementById("speed-graph");
    this.graph = canvas ? new SpeedGraph(canvas) : null;
    this.menu = new ContextMenu((action) => this.run(action));
    this.selectionCount = document.getElementById("selection-count");
    if (this.canWrite) {
      this.addDialog = new AddDialog({
        profile: this.profile,
        onAdded: (hashes) => toast(`Added ${plural(hashes.length, "torrent")}.`),
      });
      this.removeDialog = new RemoveDialog({
        onConfirm: (hashes, deleteData) => this.act("remove", hashes, { delete_data: deleteData }),
      });
      this.labelDialog = new LabelDialog({
        onConfirm: (hashes, label) => this.act("label", hashes, { label }),
      });
    }
    this._wire();
    this.loadProfile();
    this.updateToolbar();
  }

  _wire() {
    const c = this.connection;
    c.addEventListener("torrents:snapshot", ({ detail }) => {
      performance.mark("pytorrent:snapshot");
      this.haveSnapshot = true;
      // Rows leave out fields at their default; the snapshot names the defaults.
      this.table.load(detail.torrents || [], detail.revision ?? null, detail.defaults || {});
    });
    c.addEventListener("torrents:diff", ({ detail }) => {
      // Diffs before the snapshot, or older than it, are already in it.
      if (!this.haveSnapshot) return;
      const current = this.table.revision;
      if (detail.revision != null && current != null && detail.revision <= current) return;
      this.table.applyDiff(detail);
      if (this.details.hash && (detail.changed || []).some((row) => row.hash === this.details.hash)) {
        this.details.refresh();
      }
    });
    c.addEventListener("profile:status", ({ detail }) => this.applyStatus(detail));
    c.addEventListener("profile:labels", ({ detail }) => this.setLabels(detail.labels || []));
    c.addEventListener("profile:left", ({ detail }) => {
      this.haveSnapshot = false;
      this.table.load([]);
      this.details.hide();
      this.showBanner(`You can no longer see this profile (${detail.reason || "access changed"}). `
        + "Reload the page to choose another.");
    });
    c.addEventListener("joinerror", ({ detail }) => {
      this.showBanner(`Could not open this profile: ${detail.error || "unknown error"}.`);
    });
    c.addEventListener("offline", () => { this.haveSnapshot = false; });

    this.table.addEventListener("selectionchange", () => {
      this.updateToolbar();
      const selected = this.table.selected();
      if (!this.details.section.hidden && selected.length === 1) this.details.show(selected[0]);
    });
    this.table.addEventListener("activate", ({ detail }) => this.details.show(detail.hash));
    this.table.addEventListener("rowmenu", ({ detail }) => {
      const items = [{ action: "details", title: "Details" }, ...(this.canWrite ? ACTIONS : [])];
      this.menu.open(items, detail.x, detail.y, this.table.root);
    });
    this.table.root.addEventListener("keydown", (event) => {
      if (event.key === "Delete" && this.canWrite && this.table.selected().length) {
        event.preventDefault();
        this.run("remove");
      }
    });
    for (const button of document.querySelectorAll(".toolbar [data-action]")) {
      button.addEventListener("click", () => this.run(button.dataset.action));
    }
    document.getElementById("select-all")?.addEventListener("click", () => this.table.selectAllVisible());

    if (this.canWrite) {
      // Dropping .torrent files anywhere on the page opens the add dialog with them.
      document.addEventListener("dragover", (event) => {
        if (event.dataTransfer && [...event.dataTransfer.types].includes("Files")) event.preventDefault();
      });
      document.addEventListener("drop", (event) => {
        if (!event.dataTransfer || !event.dataTransfer.files.length) return;
        if (event.target.closest && event.target.closest("dialog")) return;
        event.preventDefault();
        this.addDialog.open(event.dataTransfer.files);
      });
    }

    const switcher = document.getElementById("profile-switcher");
    if (switcher) switcher.addEventListener("change", () => this.switchProfile(switcher));
  }

  async loadProfile() {
    const id = this.profile.id;
    this.connection.join(id);
    try {
      const { profile } = await api(profilePath(id));
      if (id !== this.profile.id) return;
      this.profile.delete_data = Boolean(profile.delete_data);
      this.setLabels(profile.labels || []);
    } catch (error) {
      toast(`Could not load the profile's settings: ${error.message}`, { error: true });
    }
    try {
      const status = await api(profilePath(id, "/status"));
      if (id === this.profile.id) this.applyStatus(status);
    } catch {
      // profile:status will follow the join
    }
  }

  setLabels(labels) {
    this.profile.labels = labels;
    this.filters.setKnownLabels(labels);
  }

  applyStatus(status) {
    if (status.connected === false) {
      this.showBanner(`rTorrent for this profile is unreachable: ${status.error || "no answer"}. Retrying…`);
    } else {
      this.hideBanner();
    }
    const set = (id, text) => {
      const node = document.getElementById(id);
      if (node) node.textContent = text;
    };
    set("rate-down", `↓ ${fmt.speed(status.down_rate) || "0 B/s"}`);
    set("rate-up", `↑ ${fmt.speed(status.up_rate) || "0 B/s"}`);
    set("torrent-count", status.torrents != null ? plural(status.torrents, "torrent") : "");
    set("client-version", status.client_version ? `rTorrent ${status.client_version}` : "");
    if (this.graph && status.connected !== false) {
      this.graph.push(status.down_rate, status.up_rate);
      this.graph.canvas.setAttribute("aria-label",
        `Speed graph, now down ${fmt.speed(status.down_rate) || "0 B/s"}, up ${fmt.speed(status.up_rate) || "0 B/s"}`);
    }
    document.title = status.connected === false ? "pyTorrent"
      : `↓ ${fmt.speed(status.down_rate) || "0"} ↑ ${fmt.speed(status.up_rate) || "0"} · pyTorrent`;
  }

  showBanner(text) {
    if (!this.banner) return;
    this.banner.textContent = text;
    this.banner.hidden = false;
  }

  hideBanner() {
    if (this.banner) this.banner.hidden = true;
  }

  updateToolbar() {
    const n = this.table.selected().length;
    if (this.selectionCount) this.selectionCount.textContent = n ? `${n} selected` : "";
    for (const button of document.querySelectorAll(".toolbar [data-action]")) {
      if (button.dataset.action !== "add") button.disabled = n === 0;
    }
  }

  run(action) {
    const hashes = this.table.selected();
    if (action === "add") return this.addDialog?.open();
    if (!hashes.length) return undefined;
    if (action === "details") return this.details.show(hashes[0]);
    if (!this.canWrite) return undefined;
    if (action === "label") {
      const current = this.table.get(hashes[0])?.label;
      return this.labelDialog.open(hashes, current, this.profile.labels);
    }
    if (action === "remove") {
      const names = hashes.map((h) => this.table.get(h)?.name || h);
      return this.removeDialog.open(hashes, names, this.profile.delete_data);
    }
    return this.act(action, hashes);
  }

  async act(action, hashes, extra = {}) {
    try {
      const { results = {} } = await api(profilePath(this.profile.id, "/torrents/actions"),
        { method: "POST", json: { action, hashes, ...extra } });
      const failed = Object.entries(results).filter(([, r]) => r !== "ok");
      const ok = Object.keys(results).length - failed.length;
      if (ok) toast(`${VERBS[action]} ${plural(ok, "torrent")}.`);
      if (failed.length) {
        const [hash, error] = failed[0];
        const name = this.table.get(hash)?.name || hash;
        toast(`${failed.length} failed: ${name}: ${error}${failed.length > 1 ? " (and others)" : ""}`,
          { error: true });
      }
    } catch (error) {
      toast(error.status === 403 ? `Not allowed: ${error.message}` : `${action} failed: ${error.message}`,
        { error: true });
    }
  }

  async switchProfile(select) {
    const option = select.selectedOptions[0];
    const id = Number(select.value);
    select.disabled = true;
    try {
      await api(profilePath(id, "/activate"), { method: "POST", json: {} });
    } catch (error) {
      toast(`Could not switch profile: ${error.message}`, { error: true });
      select.value = String(this.profile.id);
      select.disabled = false;
      return;
    }
    // Another access level means other controls: let the server render them.
    if (option.dataset.level !== this.root.dataset.level) {
      window.location.reload();
      return;
    }
    select.disabled = false;
    this.root.dataset.activeProfile = String(id);
    this.profile.id = id;
    this.profile.labels = [];
    this.profile.delete_data = false;
    this.haveSnapshot = false;
    this.table.load([]);
    this.table.clearSelection();
    this.details.setProfile(id);
    this.graph?.clear();
    this.hideBanner();
    this.loadProfile();
  }
}

const connection = new Connection(document.getElementById("connection-badge")).start();
const root = document.getElementById("dashboard");
if (root && root.dataset.activeProfile && document.getElementById("torrent-table")) {
  window.pytorrentPage = new TorrentPage(root, connection);
}
