"""The torrent page in Chromium: ``python bench/ui_page.py --torrents 10000 --session DIR``.

The rtorrent and server set-up of ``bench/torrents.py`` (a real rtorrent with N
generated torrents, ``--session DIR`` reuses its loaded session), a real
``pytorrent serve`` and headless Chromium signed in as the admin. Every figure
comes from the page's own performance entries, in ms since navigation start:

* **first full table, cold**: a fresh server (nobody has watched the profile,
  so the first poll of rTorrent runs after the page asks) and a fresh browser
  context; navigation start to ``pytorrent:table:first-paint``, the first task
  after the frame that shows the table with all N rows known to it;
* **first full table, warm**: a reload of that page while the profile's watcher
  is alive (it outlives its last viewer by a minute);
* **100-row diff**: the label action through the API on 100 torrents (ten in
  view, ninety spread over the list); the ``pytorrent:table:diff`` measure
  around ``applyDiff`` for the diff that carries them, and its paint.

Each round starts a new server; the table shows medians over the rounds with
the targets (first table < 1.5 s, diff < 50 ms). The page's other marks give
the breakdown: HTML received, socket connected, join sent, snapshot handler
entered (after Socket.IO parsed it), table built, painted; long tasks
(PerformanceObserver) show what blocked the page's main thread.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from playwright.async_api import BrowserContext, Page, async_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent))

from torrents import bench_profile, loaded_rtorrent  # noqa: E402

from pytorrent_core.testing import ServerProcess  # noqa: E402

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
PASSWORD = "bench-Admin-Pass-1"
TARGET_FIRST_MS = 1500.0
TARGET_DIFF_MS = 50.0
CHANGED = 100

# Before any page script: keep long tasks (the observer only sees them from its start).
LONG_TASKS = """window.__longTasks = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) window.__longTasks.push([e.startTime, e.duration]);
}).observe({ type: "longtask", buffered: true });"""

FULL_TABLE = """(n) => window.pytorrentPage && window.pytorrentPage.table.rows.size === n
  && performance.getEntriesByName("pytorrent:table:first-paint").length > 0"""

FIRST_MARKS = """() => {
  const at = (name) => performance.getEntriesByName(name)[0]?.startTime ?? null;
  const nav = performance.getEntriesByType("navigation")[0];
  const render = performance.getEntriesByName("pytorrent:table:first-render")[0];
  return {
    origin: performance.timeOrigin, html: nav.responseEnd, dom: nav.domContentLoadedEventEnd,
    connect: at("pytorrent:socket:connect"), join: at("pytorrent:socket:join"),
    snapshot: at("pytorrent:snapshot"), built: render.startTime + render.duration,
    paint: at("pytorrent:table:first-paint"),
    visible: document.querySelectorAll("#torrent-table [role=row][data-hash]").length,
    long: window.__longTasks,
  };
}"""

# Record every diff the table applies: its measure, then the task after its frame.
WATCH_DIFFS = """() => {
  window.__diffs = [];
  window.pytorrentPage.table.addEventListener("diff", ({ detail }) => {
    const m = performance.getEntriesByName("pytorrent:table:diff").at(-1);
    const seen = { changed: detail.changed, apply: m.duration, start: m.startTime, paint: null };
    window.__diffs.push(seen);
    requestAnimationFrame(() => setTimeout(() => { seen.paint = performance.now() - seen.start; }));
  });
}"""

PICK = """(count) => {
  const view = window.pytorrentPage.table.view;
  const want = Math.min(count, view.length);
  const picked = new Set(view.slice(0, Math.min(10, want)));
  const step = Math.max(1, Math.floor(view.length / Math.max(1, want - picked.size)));
  for (let i = picked.size; picked.size < want && i < view.length; i += step) picked.add(view[i]);
  for (let i = 0; picked.size < want; i += 1) picked.add(view[i]);
  return [...picked];
}"""

LABELLED = """([hashes, label]) => {
  const table = window.pytorrentPage.table;
  return hashes.every((h) => table.get(h)?.label === label)
    && window.__diffs.length > 0 && window.__diffs.every((d) => d.paint !== null);
}"""


def load_average() -> tuple[float, float, float]:
    return os.getloadavg()


class LoadSampler:
    """The 1-minute load average every few seconds while the benchmark runs."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            self.samples.append(load_average()[0])
            await asyncio.sleep(5)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


async def first_table(page: Page, count: int, *, reload: bool, url: str) -> dict[str, Any]:
    if reload:
        await page.reload()
    else:
        await page.goto(f"{url}/")
    await page.wait_for_function(FULL_TABLE, arg=count, timeout=180_000, polling=50)
    marks: dict[str, Any] = await page.evaluate(FIRST_MARKS)
    return marks


async def diff_round(page: Page, api: BrowserContext, url: str, profile_id: int,
                     label: str) -> dict[str, Any]:
    hashes: list[str] = await page.evaluate(PICK, CHANGED)
    await page.evaluate("window.__diffs = []")
    reply = await api.request.post(f"{url}/api/profiles/{profile_id}/torrents/actions",
                                   data={"action": "label", "hashes": hashes, "label": label},
                                   headers={"Origin": url})
    assert reply.status == 200, await reply.text()
    await page.wait_for_function(LABELLED, arg=[hashes, label], timeout=60_000, polling=50)
    diffs: list[dict[str, Any]] = await page.evaluate("window.__diffs")
    return {"diffs": diffs, "apply": sum(d["apply"] for d in diffs),
            "paint": max(d["paint"] for d in diffs), "count": len(diffs),
            "changed": sum(d["changed"] for d in diffs)}


async def run(count: int, session: Path | None, rounds: int, diffs: int) -> list[str]:
    chromium = shutil.which("chromium")
    assert chromium, "chromium is missing: apt-get install chromium"
    loads = LoadSampler()
    async with loaded_rtorrent(count, session) as (process, _, loaded):
        with tempfile.TemporaryDirectory(prefix="pt-bench-ui-") as tmp:
            data = Path(tmp)
            colds: list[dict[str, Any]] = []
            warms: list[dict[str, Any]] = []
            applied: list[dict[str, Any]] = []
            before = load_average()
            loads.start()
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=chromium,
                                                           args=CHROMIUM_ARGS)
                state: Any = None
                profile_id = 0
                for round_ in range(rounds):
                    with ServerProcess(data) as server:
                        if state is None:
                            profile_id, _ = await bench_profile(server, process.url)
                            done = server.cli("reset-password", "admin", PASSWORD)
                            assert done.returncode == 0, done.stderr
                            state = await sign_in(browser, server.url, profile_id)
                        context = await browser.new_context(
                            storage_state=state, viewport={"width": 1440, "height": 900})
                        await context.add_init_script(LONG_TASKS)
                        try:
                            page = await context.new_page()
                            colds.append(await first_table(page, count, reload=False,
                                                           url=server.url))
                            warms.append(await first_table(page, count, reload=True,
                                                           url=server.url))
                            await page.evaluate(WATCH_DIFFS)
                            for step in range(diffs):
                                applied.append(await diff_round(
                                    page, context, server.url, profile_id,
                                    f"bench-{round_}-{step}"))
                        finally:
                            await context.close()
                await browser.close()
            loads.stop()
            after = load_average()
    return report(count, loaded, colds, warms, applied, before, after, loads.samples)


async def sign_in(browser: Any, url: str, profile_id: int) -> Any:
    """Sign the admin in through the JSON login, choose the profile; the cookies to reuse."""
    context = await browser.new_context()
    try:
        reply = await context.request.post(f"{url}/api/auth/login",
                                           data={"username": "admin", "password": PASSWORD},
                                           headers={"Origin": url})
        assert reply.status == 200, await reply.text()
        reply = await context.request.post(f"{url}/api/profiles/{profile_id}/activate",
                                           data={}, headers={"Origin": url})
        assert reply.status == 200, await reply.text()
        return await context.storage_state()
    finally:
        await context.close()


def report(count: int, loaded: float, colds: list[dict[str, Any]], warms: list[dict[str, Any]],
           applied: list[dict[str, Any]], before: tuple[float, float, float],
           after: tuple[float, float, float], samples: list[float]) -> list[str]:
    def med(rows: list[dict[str, Any]], key: str) -> float:
        values = [r[key] for r in rows if r[key] is not None]
        return statistics.median(values) if values else float("nan")

    def line(name: str, value: float, target: float | None) -> str:
        if target is None:
            return f"| {name} | {value:.0f} ms | - | - |"
        return f"| {name} | {value:.1f} ms | < {target:.0f} ms | {value / target:.2f} |"

    out = [f"torrents {count}; rtorrent ready in {loaded:.0f} s; {len(colds)} rounds, "
           f"{len(applied)} diffs; {os.cpu_count()} cores",
           f"load average before {before[0]:.2f} {before[1]:.2f} {before[2]:.2f}, "
           f"after {after[0]:.2f} {after[1]:.2f} {after[2]:.2f}; 1-min samples during the run "
           f"{min(samples, default=0):.2f}-{max(samples, default=0):.2f} "
           f"(mean {statistics.fmean(samples) if samples else 0:.2f})",
           "", "| measure (median) | Chromium | target | ratio |", "|---|---|---|---|",
           line("first full table, cold server", med(colds, "paint"), TARGET_FIRST_MS),
           line("first full table, warm (reload)", med(warms, "paint"), TARGET_FIRST_MS),
           line(f"{CHANGED}-row diff applied (pytorrent:table:diff)", med(applied, "apply"),
                TARGET_DIFF_MS),
           line(f"{CHANGED}-row diff to its painted frame", med(applied, "paint"), None)]
    out += ["", "Breakdown, ms since navigation start (median): "
            "html dom connect join snapshot built paint"]
    for name, rows in (("cold", colds), ("warm", warms)):
        out.append(f"  {name:5} " + " ".join(
            f"{med(rows, key):6.0f}" for key in ("html", "dom", "connect", "join", "snapshot",
                                                  "built", "paint")))
    for name, rows in (("cold", colds), ("warm", warms)):
        longest = [max((d for _, d in r["long"]), default=0.0) for r in rows]
        total = [sum(d for _, d in r["long"]) for r in rows]
        out.append(f"  {name} long tasks: longest {statistics.median(longest):.0f} ms, "
                   f"all {statistics.median(total):.0f} ms (medians)")
    out.append(f"  diffs: {statistics.median(a['count'] for a in applied):.0f} per action, "
               f"{statistics.median(a['changed'] for a in applied):.0f} rows; apply max "
               f"{max(a['apply'] for a in applied):.1f} ms")
    out.append("  rounds, cold/warm first table ms: " + ", ".join(
        f"{c['paint']:.0f}/{w['paint']:.0f}" for c, w in zip(colds, warms, strict=True)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torrents", type=int, default=1000)
    parser.add_argument("--session", type=Path, default=None,
                        help="keep rtorrent's session here and reuse it on the next run")
    parser.add_argument("--rounds", type=int, default=5, help="servers started (cold loads)")
    parser.add_argument("--diffs", type=int, default=5, help="100-row diffs per round")
    args = parser.parse_args()
    began = time.perf_counter()
    for text in asyncio.run(run(args.torrents, args.session, args.rounds, args.diffs)):
        print(text, flush=True)
    print(f"({time.perf_counter() - began:.0f} s in all)")


if __name__ == "__main__":
    main()
