// Filter sidebar (state, label, with counts) and name search, bound to a TorrentTable.

import { ANY_LABEL, NO_LABEL, STATE_FILTERS } from "./table.js";

function button(kind, value, title) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "filter";
  b.dataset.filter = kind;
  b._value = value;
  // The two special label entries have no data-value (any string is a possible label).
  if (kind === "label" && value === ANY_LABEL) b.dataset.any = "";
  else if (kind === "label" && value === NO_LABEL) b.dataset.none = "";
  else b.dataset.value = value;
  b.setAttribute("aria-pressed", "false");
  const name = document.createElement("span");
  name.className = "filter-name";
  name.textContent = title;
  const count = document.createElement("span");
  count.className = "count";
  count.textContent = "0";
  b.append(name, count);
  return b;
}

export class Filters {
  constructor(container, table, { search = null } = {}) {
    this.container = container;
    this.table = table;
    this.knownLabels = [];
    const stateHeading = document.createElement("h2");
    stateHeading.textContent = "State";
    this.stateList = document.createElement("div");
    this.stateList.className = "filter-list";
    this.stateList.setAttribute("role", "group");
    this.stateList.setAttribute("aria-label", "Filter by state");
    for (const f of STATE_FILTERS) this.stateList.append(button("state", f.key, f.title));
    const labelHeading = document.createElement("h2");
    labelHeading.textContent = "Label";
    this.labelList = document.createElement("div");
    this.labelList.className = "filter-list";
    this.labelList.setAttribute("role", "group");
    this.labelList.setAttribute("aria-label", "Filter by label");
    container.replaceChildren(stateHeading, this.stateList, labelHeading, this.labelList);

    container.addEventListener("click", (event) => {
      const b = event.target.closest("button.filter");
      if (!b) return;
      table.setFilter({ [b.dataset.filter]: b._value });
      this._paintPressed();
    });
    if (search) {
      search.addEventListener("input", () => table.setFilter({ search: search.value }));
    }
    table.addEventListener("counts", (event) => this.render(event.detail));
    this.render(table.counts());
  }

  // Labels declared on the profile show even with a count of 0.
  setKnownLabels(labels) {
    this.knownLabels = [...labels];
    this.render(this.table.counts());
  }

  render(counts) {
    for (const b of this.stateList.children) {
      b.querySelector(".count").textContent = String(counts.states[b._value] ?? 0);
    }
    const names = new Set([...this.knownLabels, ...counts.labels.keys()]);
    const wanted = [[ANY_LABEL, "All labels", counts.total],
      ...[...names].sort((a, b) => a.localeCompare(b)).map((n) => [n, n, counts.labels.get(n) || 0]),
      [NO_LABEL, "No label", counts.unlabelled]];
    const existing = new Map([...this.labelList.children].map((b) => [b._value, b]));
    const ordered = wanted.map(([value, title, count]) => {
      const b = existing.get(value) || button("label", value, title);
      existing.delete(value);
      b.querySelector(".count").textContent = String(count);
      return b;
    });
    for (const stale of existing.values()) stale.remove();
    ordered.forEach((b, i) => {
      if (this.labelList.children[i] !== b) this.labelList.insertBefore(b, this.labelList.children[i] || null);
    });
    this._paintPressed();
  }

  _paintPressed() {
    const { state, label } = this.table.filter;
    for (const b of this.stateList.children) b.setAttribute("aria-pressed", String(b._value === state));
    for (const b of this.labelList.children) b.setAttribute("aria-pressed", String(b._value === label));
  }
}
