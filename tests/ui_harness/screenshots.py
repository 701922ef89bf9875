"""Screenshots of the torrent page harness: ``python tests/ui_harness/screenshots.py OUTDIR``.

Desktop light, desktop dark and phone, 50 synthetic torrents, a selection and
the details panel open; the speed graph is fed five minutes of made-up status.
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from support.ui_server import ui_server  # noqa: E402

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SHOTS = [("desktop-light", (1440, 900), "light", ""),
         ("desktop-dark", (1440, 900), "dark", ""),
         ("phone", (390, 844), "light", ""),
         ("phone-dark-unreachable", (390, 844), "dark", "&unreachable=1")]
GRAPH = """() => { window.pytorrentPage.graph.clear(); for (let i = 0; i < 90; i++) {
  const t = Date.now() / 1000 - 270 + i * 3;
  window.pytorrentPage.graph.push(2e6 + 1.5e6 * Math.sin(i / 7), 4e5 + 2e5 * Math.cos(i / 5), t);
} }"""


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with ui_server() as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                             args=CHROMIUM_ARGS)
        for name, (width, height), scheme, query in SHOTS:
            context = browser.new_context(viewport={"width": width, "height": height},
                                          color_scheme=scheme)
            page = context.new_page()
            page.goto(f"{url}/page?rows=50{query}")
            rows = page.locator("[role=row][data-hash]")
            rows.first.wait_for()
            if name.startswith("desktop"):
                rows.nth(1).click()
                rows.nth(3).click(modifiers=["Control"])
                rows.nth(3).dblclick(modifiers=["Control"])
                page.locator("#details-panel dl").wait_for()
            page.evaluate(GRAPH)
            page.wait_for_timeout(200)
            page.screenshot(path=str(out / f"{name}.png"))
            print(out / f"{name}.png")
            context.close()
        browser.close()


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "ui-screenshots"))
