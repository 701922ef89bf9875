"""How fast is the torrent table? ``python bench/ui_table.py [--rows N] [--rounds R]``

Loads N synthetic torrents (default 10,000) into table.js in headless Chromium
(the test harness page, no pyTorrent server), then applies 100-row diffs, and
prints the page's own performance measures: ``pytorrent:table:first-render``
(snapshot to first full table) and ``pytorrent:table:diff`` (one diff applied),
plus the time to the next painted frame. Targets: first render < 1.5 s,
100-row diff < 50 ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support.ui_server import ui_server  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]

FIRST = """async (n) => {
  const rows = (await import("/harness/rows.js")).makeRows(n);
  const start = performance.now();
  harness.table.load(rows, 1);
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  const painted = performance.now() - start;
  const [m] = performance.getEntriesByName("pytorrent:table:first-render");
  const dom = document.querySelectorAll("[role=row][data-hash]").length;
  const sortStart = performance.now();
  harness.table.sortBy("name", "ascending");  // collator compare over shuffled names
  const sortName = performance.now() - sortStart;
  harness.table.sortBy("added_at", "descending");
  return { measure: m.duration, painted, dom, sortName };
}"""

DIFF = """async ({ n, round, sortKey }) => {
  if (sortKey) harness.table.sortBy(sortKey, "descending");
  const changed = [];
  for (let k = 0; k < 100; k += 1) {
    const i = (k * 97 + round * 13) % n;  // spread over the table, some in view
    changed.push({ hash: harness.hashOf(i), down_rate: (round + 1) * 1000 + k * 7,
                   up_rate: k * 11 + round, progress: ((i + round) % 100) / 100 });
  }
  if (sortKey === "name") {
    for (let k = 0; k < 10; k += 1) changed.push(harness.makeRow(n + round * 10 + k));
  }
  performance.clearMeasures("pytorrent:table:diff");
  const start = performance.now();
  harness.table.applyDiff({ revision: round + 2, changed, removed: [] });
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  const painted = performance.now() - start;
  const [m] = performance.getEntriesByName("pytorrent:table:diff");
  return { measure: m.duration, painted };
}"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with ui_server() as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            firsts = []
            diffs: dict[str, list[dict[str, float]]] = {"added_at": [], "down_rate": [],
                                                         "up_rate": [], "name": []}
            for _ in range(3):  # a fresh page each time: the first render is a first
                page = browser.new_page(viewport={"width": 1440, "height": 900})
                page.goto(f"{url}/harness/table.html")
                page.wait_for_function("window.harnessReady === true")
                firsts.append(page.evaluate(FIRST, args.rows))
                for key in diffs:
                    diffs[key] += [page.evaluate(DIFF, {"n": args.rows, "round": r,
                                                        "sortKey": key})
                                   for r in range(args.rounds)]
                page.close()
        finally:
            browser.close()

    def med(rows: list[dict[str, float]], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    print(f"rows: {args.rows}, DOM rows after first render: {firsts[0]['dom']}")
    print(f"{'case':44} {'measure ms':>11} {'to paint ms':>12} {'target':>8}")
    print(f"{'first full table (median of 3)':44} {med(firsts, 'measure'):11.1f} "
          f"{med(firsts, 'painted'):12.1f} {'1500':>8}")
    print(f"{'sort all rows by name (header click)':44} {med(firsts, 'sortName'):11.1f}")
    for key, label in (("added_at", "100-row diff, sorted by added (no re-sort)"),
                       ("down_rate", "100-row diff, sorted by down (rows move)"),
                       ("up_rate", "100-row diff, sorted by up (rows move)"),
                       ("name", "100-row diff + 10 new rows, sorted by name")):
        rows = diffs[key]
        print(f"{label:44} {med(rows, 'measure'):11.2f} {med(rows, 'painted'):12.1f} {'50':>8}"
              f"   (max {max(r['measure'] for r in rows):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
