// Table component on its own: tests drive it through window.harness.
import { TorrentTable } from "/static/js/table.js";
import { Filters } from "/static/js/filters.js";
import { makeRows, makeRow, hashOf } from "./rows.js";

const table = new TorrentTable(document.getElementById("torrent-table"));
const filters = new Filters(document.getElementById("filters"), table,
  { search: document.getElementById("search") });

window.harness = {
  table,
  filters,
  makeRow,
  hashOf,
  load(n) {
    table.load(makeRows(n), 1);
    return table.view.length;
  },
  diff(d) {
    table.applyDiff(d);
  },
  measures(name) {
    return performance.getEntriesByName(name).map((e) => e.duration);
  },
};
window.harnessReady = true;
