// The torrent table: rows keyed by info-hash, patched in place from diffs,
// and only the rows in view exist in the DOM (virtual scrolling).
//
// ARIA grid: the root is role="grid" (it is also the scroll box), a sticky
// header row of columnheaders, then one rowgroup whose height is that of all
// rows; each rendered row is absolutely placed at its index. Rows carry
// data-hash, aria-rowindex and aria-selected. The grid keeps focus itself and
// points at the cursor row with aria-activedescendant, so keyboard use does
// not depend on which rows happen to exist.

import * as fmt from "./format.js";

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

const num = (key) => (a, b) => (a[key] ?? -1) - (b[key] ?? -1);
const text = (key) => (a, b) => collator.compare(a[key] || "", b[key] || "");

export const COLUMNS = [
  { key: "name", title: "Name", fields: ["name"], compare: text("name") },
  { key: "size", title: "Size", fields: ["size"], compare: num("size"), numeric: true },
  { key: "progress", title: "Progress", fields: ["progress", "state"], compare: num("progress") },
  { key: "state", title: "State", fields: ["state", "message"], compare: text("state") },
  { key: "down_rate", title: "Down", fields: ["down_rate"], compare: num("down_rate"), numeric: true },
  { key: "up_rate", title: "Up", fields: ["up_rate"], compare: num("up_rate"), numeric: true },
  { key: "ratio", title: "Ratio", fields: ["ratio"], compare: num("ratio"), numeric: true },
  {
    key: "eta", title: "ETA", fields: ["eta"], numeric: true,
    // Unknown ETA sorts after every known one.
    compare: (a, b) => (a.eta ?? Infinity) - (b.eta ?? Infinity) || 0,
  },
  { key: "peers", title: "Peers/seeds", fields: ["peers", "seeds"], compare: num("peers"), numeric: true },
  { key: "label", title: "Label", fields: ["label"], compare: text("label") },
  { key: "added_at", title: "Added", fields: ["added_at"], compare: num("added_at"), numeric: true },
];

const COLUMN_BY_KEY = new Map(COLUMNS.map((c) => [c.key, c]));
// field -> columns whose cell shows it
const COLUMNS_BY_FIELD = new Map();
for (const column of COLUMNS) {
  for (const field of column.fields) {
    if (!COLUMNS_BY_FIELD.has(field)) COLUMNS_BY_FIELD.set(field, []);
    COLUMNS_BY_FIELD.get(field).push(column.key);
  }
}

export const STATE_FILTERS = [
  { key: "all", title: "All", test: () => true },
  { key: "downloading", title: "Downloading", test: (s) => s === "downloading" },
  { key: "seeding", title: "Seeding", test: (s) => s === "seeding" },
  { key: "paused", title: "Paused / stopped", test: (s) => s === "paused" || s === "stopped" },
  { key: "checking", title: "Checking", test: (s) => s === "checking" },
  { key: "error", title: "Error", test: (s) => s === "error" },
];
const STATE_FILTER_BY_KEY = new Map(STATE_FILTERS.map((f) => [f.key, f]));

export const ANY_LABEL = "";
export const NO_LABEL = "\u0000none";

const FILTER_FIELDS = new Set(["state", "label", "name"]);
const MAX_MEASURES = 200;

function cellValue(key, t) {
  switch (key) {
    case "name": return t.name || t.hash;
    case "size": return fmt.bytes(t.size);
    case "progress": return `${fmt.percent(t.progress)}|${t.state}`;
    case "state": return `${t.state}|${t.message || ""}`;
    case "down_rate": return fmt.speed(t.down_rate);
    case "up_rate": return fmt.speed(t.up_rate);
    case "ratio": return fmt.ratio(t.ratio);
    case "eta": return t.state === "downloading" ? fmt.eta(t.eta) : "";
    case "peers": return `${t.peers ?? 0} / ${t.seeds ?? 0}`;
    case "label": return t.label || "";
    case "added_at": return String(t.added_at || "");
    default: return "";
  }
}

function writeCell(cell, key, t, value) {
  switch (key) {
    case "progress": {
      const width = `${Math.max(0, Math.min(1, Number(t.progress) || 0)) * 100}%`;
      cell._fill.style.width = width;
      cell._fill.dataset.state = t.state;
      cell._text.textContent = fmt.percent(t.progress);
      cell._bar.setAttribute("aria-valuenow", String(Math.round((t.progress || 0) * 100)));
      break;
    }
    case "state":
      cell._text.textContent = fmt.stateLabel(t.state);
      cell._text.dataset.state = t.state;
      cell.title = t.message || "";
      break;
    case "added_at":
      cell.textContent = fmt.relative(t.added_at);
      cell.title = fmt.exactTime(t.added_at);
      break;
    case "name":
      cell.textContent = value;
      cell.title = value;
      break;
    default:
      cell.textContent = value;
  }
}

export class TorrentTable extends EventTarget {
  constructor(root, { label = "Torrents" } = {}) {
    super();
    this.root = root;
    this.rows = new Map(); // hash -> torrent object (kept up to date by diffs)
    this.view = []; // hashes after filter + sort, in display order
    this.rendered = new Map(); // hash -> row element currently in the DOM
    this.pool = [];
    this.selection = new Set();
    this.anchor = null;
    this.cursor = null;
    this.sortKey = "added_at";
    this.sortDir = "descending";
    this.filter = { state: "all", label: ANY_LABEL, search: "" };
    this.rowHeight = 32;
    this.firstRenderDone = false;
    this.revision = null;
    this._frame = 0;
    this._build(label);
  }

  // ------------------------------------------------------------------ DOM

  _build(label) {
    const root = this.root;
    root.classList.add("torrent-grid");
    root.setAttribute("role", "grid");
    root.setAttribute("aria-label", label);
    root.setAttribute("aria-multiselectable", "true");
    root.setAttribute("aria-colcount", String(COLUMNS.length));
    root.tabIndex = 0;
    root.replaceChildren();

    const head = document.createElement("div");
    head.className = "grid-head";
    head.setAttribute("role", "rowgroup");
    const headRow = document.createElement("div");
    headRow.className = "grid-row grid-head-row";
    headRow.setAttribute("role", "row");
    headRow.setAttribute("aria-rowindex", "1");
    this.headers = new Map();
    for (const column of COLUMNS) {
      const th = document.createElement("div");
      th.setAttribute("role", "columnheader");
      th.className = `cell c-${column.key}${column.numeric ? " num" : ""}`;
      th.dataset.column = column.key;
      const button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      button.textContent = column.title;
      button.dataset.column = column.key;
      th.append(button);
      headRow.append(th);
      this.headers.set(column.key, th);
    }
    head.append(headRow);

    this.body = document.createElement("div");
    this.body.className = "grid-body";
    this.body.setAttribute("role", "rowgroup");

    this.empty = document.createElement("p");
    this.empty.className = "grid-empty";
    this.empty.hidden = true;

    root.append(head, this.body, this.empty);
    this.head = head;
    this._updateSortHeaders();

    head.addEventListener("click", (event) => {
      const button = event.target.closest("button.sort");
      if (!button) return;
      const key = button.dataset.column;
      const dir = this.sortKey === key && this.sortDir === "ascending" ? "descending" : "ascending";
      this.sortBy(key, dir);
    });
    root.addEventListener("scroll", () => this._schedule(), { passive: true });
    this.body.addEventListener("click", (event) => this._onClick(event));
    this.body.addEventListener("dblclick", (event) => {
      const row = event.target.closest("[role=row]");
      if (row) this._emit("activate", { hash: row.dataset.hash });
    });
    this.body.addEventListener("contextmenu", (event) => this._onContextMenu(event));
    root.addEventListener("keydown", (event) => this._onKey(event));
    if (typeof ResizeObserver === "function") {
      new ResizeObserver(() => {
        this._readRowHeight();
        this._schedule();
      }).observe(root);
    }
    this._readRowHeight();
    // "5 min. ago" ages; rewrite the visible Added cells once a minute.
    setInterval(() => {
      for (const [hash, el] of this.rendered) {
        el._vals.delete("added_at");
        this._updateCell(el, "added_at", this.rows.get(hash));
      }
    }, 60_000);
  }

  _readRowHeight() {
    const value = parseFloat(getComputedStyle(this.root).getPropertyValue("--row-h"));
    const height = Number.isFinite(value) && value > 0 ? value : 32;
    if (height !== this.rowHeight) {
      this.rowHeight = height;
      for (const el of this.rendered.values()) el._index = -1;
      this.body.style.height = `${this.view.length * this.rowHeight}px`;
    }
  }

  _createRow() {
    const row = document.createElement("div");
    row.className = "grid-row";
    row.setAttribute("role", "row");
    row._cells = new Map();
    row._vals = new Map();
    COLUMNS.forEach((column, i) => {
      const cell = document.createElement("div");
      cell.setAttribute("role", "gridcell");
      cell.setAttribute("aria-colindex", String(i + 1));
      cell.className = `cell c-${column.key}${column.numeric ? " num" : ""}`;
      if (column.key === "progress") {
        const bar = document.createElement("div");
        bar.className = "bar";
        bar.setAttribute("role", "progressbar");
        bar.setAttribute("aria-valuemin", "0");
        bar.setAttribute("aria-valuemax", "100");
        const fill = document.createElement("div");
        fill.className = "fill";
        bar.append(fill);
        const label = document.createElement("span");
        label.className = "bar-text";
        cell.append(bar, label);
        cell._bar = bar;
        cell._fill = fill;
        cell._text = label;
      } else if (column.key === "state") {
        const pill = document.createElement("span");
        pill.className = "state-pill";
        cell.append(pill);
        cell._text = pill;
      }
      row.append(cell);
      row._cells.set(column.key, cell);
    });
    return row;
  }

  _fillRow(row, t) {
    row.dataset.hash = t.hash;
    row.id = `torrent-${t.hash}`;
    row._vals.clear();
    row._index = -1;
    for (const column of COLUMNS) this._updateCell(row, column.key, t);
    this._paintSelection(row);
  }

  _updateCell(row, key, t) {
    const value = cellValue(key, t);
    if (row._vals.get(key) === value) return;
    row._vals.set(key, value);
    writeCell(row._cells.get(key), key, t, value);
  }

  _paintSelection(row) {
    const hash = row.dataset.hash;
    const selected = this.selection.has(hash);
    if (row._selected !== selected) {
      row._selected = selected;
      row.setAttribute("aria-selected", selected ? "true" : "false");
    }
    row.classList.toggle("cursor", hash === this.cursor);
  }

  // ------------------------------------------------------------ rendering

  _schedule() {
    if (this._frame) return;
    this._frame = requestAnimationFrame(() => {
      this._frame = 0;
      this._renderWindow();
    });
  }

  _range() {
    const rh = this.rowHeight;
    const viewport = this.root.clientHeight || 800;
    const top = this.root.scrollTop - this.body.offsetTop;
    const overscan = 8;
    const start = Math.max(0, Math.floor(top / rh) - overscan);
    const end = Math.min(this.view.length, Math.ceil((top + viewport) / rh) + overscan);
    return [start, end];
  }

  _renderWindow() {
    const [start, end] = this._range();
    const wanted = new Set();
    for (let i = start; i < end; i += 1) wanted.add(this.view[i]);
    for (const [hash, el] of this.rendered) {
      if (!wanted.has(hash)) {
        el.remove();
        this.rendered.delete(hash);
        this.pool.push(el);
      }
    }
    let previous = null;
    for (let i = start; i < end; i += 1) {
      const hash = this.view[i];
      let el = this.rendered.get(hash);
      if (!el) {
        el = this.pool.pop() || this._createRow();
        this._fillRow(el, this.rows.get(hash));
        this.rendered.set(hash, el);
      }
      if (el._index !== i) {
        el._index = i;
        el.style.transform = `translateY(${i * this.rowHeight}px)`;
        el.setAttribute("aria-rowindex", String(i + 2));
      }
      // Keep DOM order equal to display order for assistive technology.
      const expected = previous ? previous.nextSibling : this.body.firstChild;
      if (expected !== el) this.body.insertBefore(el, expected);
      previous = el;
    }
    this.empty.hidden = this.view.length > 0;
    if (!this.empty.hidden) {
      this.empty.textContent = this.rows.size ? "No torrent matches the filter." : "No torrents yet.";
    }
  }

  _passes(t) {
    const filter = this.filter;
    if (!(STATE_FILTER_BY_KEY.get(filter.state) || STATE_FILTERS[0]).test(t.state)) return false;
    const label = filter.label;
    if (label === NO_LABEL ? t.label : label !== ANY_LABEL && t.label !== label) return false;
    const search = filter.search.trim().toLowerCase();
    return !search || (t.name || "").toLowerCase().includes(search);
  }

  _comparator() {
    const compare = COLUMN_BY_KEY.get(this.sortKey).compare;
    const sign = this.sortDir === "descending" ? -1 : 1;
    return (a, b) => sign * compare(a, b) || (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0);
  }

  _rebuildView() {
    const kept = [];
    for (const t of this.rows.values()) if (this._passes(t)) kept.push(t);
    kept.sort(this._comparator());
    this.view = kept.map((t) => t.hash);
    this._viewResized();
  }

  _viewResized() {
    this.body.style.height = `${this.view.length * this.rowHeight}px`;
    this.root.setAttribute("aria-rowcount", String(this.view.length + 1));
  }

  // Take the moved rows out of the sorted view and put them back by binary
  // search: a diff costs O(n + k log n), not a full sort (which, by name, is
  // ~100 ms for 10,000 rows).
  _patchView(moved, removed) {
    const out = new Set([...moved, ...removed]);
    const view = out.size ? this.view.filter((h) => !out.has(h)) : this.view;
    const compare = this._comparator();
    for (const hash of moved) {
      const t = this.rows.get(hash);
      if (!t || !this._passes(t)) continue;
      let lo = 0;
      let hi = view.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (compare(this.rows.get(view[mid]), t) < 0) lo = mid + 1;
        else hi = mid;
      }
      view.splice(lo, 0, hash);
    }
    this.view = view;
    this._viewResized();
    this._renderWindow();
    this._emit("counts", this.counts());
  }

  _refresh({ pruneSelection = false } = {}) {
    this._rebuildView();
    if (pruneSelection) {
      const visible = new Set(this.view);
      let changed = false;
      for (const hash of this.selection) {
        if (!visible.has(hash)) {
          this.selection.delete(hash);
          changed = true;
        }
      }
      if (changed) this._selectionChanged();
    }
    this._renderWindow();
    this._emit("counts", this.counts());
  }

  // ---------------------------------------------------------- public API

  // Replace everything with a snapshot (torrents:snapshot); a row's missing fields
  // are those of `defaults`.
  load(torrents, revision = null, defaults = {}) {
    const first = !this.firstRenderDone;
    if (first) performance.mark("pytorrent:table:first-render:start");
    this.rows = new Map();
    for (const t of torrents) this.rows.set(t.hash, { ...defaults, ...t });
    this.revision = revision;
    for (const el of this.rendered.values()) {
      el.remove();
      this.pool.push(el);
    }
    this.rendered.clear();
    const before = this.selection.size;
    for (const hash of [...this.selection]) if (!this.rows.has(hash)) this.selection.delete(hash);
    this._refresh();
    if (this.selection.size !== before) this._selectionChanged();
    if (first) {
      this.firstRenderDone = true;
      performance.measure("pytorrent:table:first-render", "pytorrent:table:first-render:start");
      // A task queued from the next animation frame runs once that frame is painted.
      requestAnimationFrame(() => setTimeout(() => performance.mark("pytorrent:table:first-paint")));
    }
  }

  // Apply a torrents:diff: changed cells only; re-sort only when needed.
  applyDiff({ changed = [], removed = [], revision = null } = {}) {
    performance.mark("pytorrent:table:diff:start");
    const moved = new Set(); // rows whose place in the view may change
    const gone = [];
    let selectionChanged = false;
    for (const hash of removed) {
      if (this.rows.delete(hash)) gone.push(hash);
      if (this.selection.delete(hash)) selectionChanged = true;
    }
    const sortFields = new Set(COLUMN_BY_KEY.get(this.sortKey).fields);
    for (const partial of changed) {
      const current = this.rows.get(partial.hash);
      if (!current) {
        this.rows.set(partial.hash, { ...partial });
        moved.add(partial.hash);
        continue;
      }
      const el = this.rendered.get(partial.hash);
      let touched = null;
      for (const field in partial) {
        if (field === "hash" || current[field] === partial[field]) continue;
        current[field] = partial[field];
        if (sortFields.has(field) || FILTER_FIELDS.has(field)) moved.add(partial.hash);
        if (el) {
          for (const key of COLUMNS_BY_FIELD.get(field) || []) {
            (touched ||= new Set()).add(key);
          }
        }
      }
      if (touched) for (const key of touched) this._updateCell(el, key, current);
    }
    this.revision = revision ?? this.revision;
    if (moved.size + gone.length > this.rows.size / 4) this._refresh();
    else if (moved.size || gone.length) this._patchView(moved, gone);
    if (selectionChanged) this._selectionChanged();
    performance.measure("pytorrent:table:diff", "pytorrent:table:diff:start");
    if (performance.getEntriesByName("pytorrent:table:diff").length > MAX_MEASURES) {
      performance.clearMeasures("pytorrent:table:diff");
    }
    this._emit("diff", { changed: changed.length, removed: removed.length });
  }

  get(hash) {
    return this.rows.get(hash);
  }

  sortBy(key, dir = "ascending") {
    if (!COLUMN_BY_KEY.has(key)) return;
    this.sortKey = key;
    this.sortDir = dir;
    this._updateSortHeaders();
    this._refresh();
  }

  _updateSortHeaders() {
    for (const [key, th] of this.headers) {
      if (key === this.sortKey) th.setAttribute("aria-sort", this.sortDir);
      else th.removeAttribute("aria-sort");
    }
  }

  setFilter(change) {
    this.filter = { ...this.filter, ...change };
    this._refresh({ pruneSelection: true });
    this.root.scrollTop = 0;
  }

  counts() {
    const states = Object.fromEntries(STATE_FILTERS.map((f) => [f.key, 0]));
    const labels = new Map();
    let unlabelled = 0;
    for (const t of this.rows.values()) {
      for (const f of STATE_FILTERS) if (f.test(t.state)) states[f.key] += 1;
      if (t.label) labels.set(t.label, (labels.get(t.label) || 0) + 1);
      else unlabelled += 1;
    }
    return { states, labels, unlabelled, total: this.rows.size, shown: this.view.length };
  }

  // ------------------------------------------------------------ selection

  selected() {
    return [...this.selection];
  }

  select(hashes) {
    this.selection = new Set(hashes);
    this._selectionChanged();
  }

  selectAllVisible() {
    this.selection = new Set(this.view);
    this._selectionChanged();
  }

  clearSelection() {
    this.selection.clear();
    this._selectionChanged();
  }

  _selectionChanged() {
    for (const el of this.rendered.values()) this._paintSelection(el);
    this._emit("selectionchange", { hashes: this.selected() });
  }

  _indexOf(hash) {
    return this.view.indexOf(hash);
  }

  _pick(hash, { toggle = false, range = false } = {}) {
    if (range && this.anchor !== null && this._indexOf(this.anchor) >= 0) {
      const a = this._indexOf(this.anchor);
      const b = this._indexOf(hash);
      const [lo, hi] = a < b ? [a, b] : [b, a];
      if (!toggle) this.selection.clear();
      for (let i = lo; i <= hi; i += 1) this.selection.add(this.view[i]);
    } else if (toggle) {
      if (this.selection.has(hash)) this.selection.delete(hash);
      else this.selection.add(hash);
      this.anchor = hash;
    } else {
      this.selection = new Set([hash]);
      this.anchor = hash;
    }
    this._setCursor(hash);
    this._selectionChanged();
  }

  _setCursor(hash) {
    this.cursor = hash;
    if (hash) this.root.setAttribute("aria-activedescendant", `torrent-${hash}`);
    else this.root.removeAttribute("aria-activedescendant");
    for (const el of this.rendered.values()) el.classList.toggle("cursor", el.dataset.hash === hash);
  }

  _scrollTo(index) {
    const rh = this.rowHeight;
    const top = this.body.offsetTop + index * rh;
    const head = this.head.offsetHeight;
    if (top - head < this.root.scrollTop) this.root.scrollTop = top - head;
    else if (top + rh > this.root.scrollTop + this.root.clientHeight) {
      this.root.scrollTop = top + rh - this.root.clientHeight;
    }
    this._renderWindow();
  }

  _onClick(event) {
    const row = event.target.closest("[role=row]");
    if (!row) return;
    this._pick(row.dataset.hash, {
      toggle: event.ctrlKey || event.metaKey,
      range: event.shiftKey,
    });
    this.root.focus({ preventScroll: true });
  }

  _onContextMenu(event) {
    const row = event.target.closest("[role=row]");
    if (!row) return;
    event.preventDefault();
    if (!this.selection.has(row.dataset.hash)) this._pick(row.dataset.hash);
    this._emit("rowmenu", { hash: row.dataset.hash, x: event.clientX, y: event.clientY });
  }

  _onKey(event) {
    if (event.target !== this.root) return;
    const n = this.view.length;
    if (!n) return;
    const page = Math.max(1, Math.floor(this.root.clientHeight / this.rowHeight) - 1);
    let index = this.cursor ? this._indexOf(this.cursor) : -1;
    const move = {
      ArrowDown: index + 1, ArrowUp: index - 1, PageDown: index + page, PageUp: index - page,
      Home: 0, End: n - 1,
    }[event.key];
    if (move !== undefined) {
      event.preventDefault();
      index = Math.max(0, Math.min(n - 1, move));
      const hash = this.view[index];
      if (event.shiftKey) this._pick(hash, { range: true });
      else if (event.ctrlKey || event.metaKey) this._setCursor(hash);
      else this._pick(hash);
      this._scrollTo(index);
      return;
    }
    if (event.key === " " && this.cursor) {
      event.preventDefault();
      this._pick(this.cursor, { toggle: true });
    } else if (event.key === "Enter" && this.cursor) {
      event.preventDefault();
      this._emit("activate", { hash: this.cursor });
    } else if ((event.key === "a" || event.key === "A") && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      this.selectAllVisible();
    } else if (event.key === "Escape") {
      this.clearSelection();
    } else if (event.key === "ContextMenu" || (event.key === "F10" && event.shiftKey)) {
      event.preventDefault();
      const el = this.cursor && this.rendered.get(this.cursor);
      const box = (el || this.root).getBoundingClientRect();
      this._emit("rowmenu", { hash: this.cursor, x: box.left + 24, y: box.bottom });
    }
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
