"""The torrent table module in real Chromium, fed a synthetic snapshot and diffs.

The harness (tests/ui_harness/) imports the shipped table.js and filters.js; no
pyTorrent server is involved.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect, sync_playwright
from support.ui_server import ui_server

pytestmark = [pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def h(i: int) -> str:
    return format(i, "x").rjust(40, "0")


@pytest.fixture(scope="module")
def browser_url() -> Iterator[tuple[object, str]]:
    assert os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} is missing: apt-get install chromium"
    with ui_server() as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser, url
        finally:
            browser.close()


@pytest.fixture
def page(browser_url: tuple[object, str]) -> Iterator[Page]:
    browser, url = browser_url
    context = browser.new_context(viewport={"width": 1400, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(f"{url}/harness/table.html")
    page.wait_for_function("window.harnessReady === true")
    yield page
    context.close()
    assert errors == []


def rows(page: Page):  # noqa: ANN201
    return page.get_by_role("grid").get_by_role("row").filter(has=page.get_by_role("gridcell"))


def diff(page: Page, changed: str, removed: list[str] | None = None) -> None:
    page.evaluate(f"harness.diff({{changed: {changed}, removed: {removed or []!r}}})")


def visible_hashes(page: Page) -> list[str]:
    return page.eval_on_selector_all("[role=grid] [role=row][data-hash]",
                                     "els => els.map(e => e.dataset.hash)")


def test_rows_are_found_by_role(page: Page) -> None:
    page.evaluate("harness.load(20)")
    expect(rows(page)).to_have_count(20)
    row = page.locator(f"[role=row][data-hash='{h(7)}']")
    expect(row.get_by_role("gridcell").first).to_have_text("gentoo-7.iso")
    assert page.get_by_role("grid").get_attribute("aria-rowcount") == "21"


def test_sort_by_header(page: Page) -> None:
    page.evaluate("harness.load(50)")
    header = page.get_by_role("columnheader", name="Name")
    header.get_by_role("button").click()
    expect(header).to_have_attribute("aria-sort", "ascending")
    names = page.evaluate("harness.table.view.map(h => harness.table.get(h).name)")
    assert names[:3] == ["alpine-6.iso", "alpine-14.iso", "alpine-22.iso"]  # numeric-aware
    header.get_by_role("button").click()
    expect(header).to_have_attribute("aria-sort", "descending")
    page.get_by_role("columnheader", name="Size").get_by_role("button").click()
    sizes = page.evaluate("harness.table.view.map(h => harness.table.get(h).size)")
    assert sizes == sorted(sizes)
    expect(page.get_by_role("columnheader", name="Name")).not_to_have_attribute(
        "aria-sort", "descending")
    assert visible_hashes(page)[0] == page.evaluate("harness.table.view[0]")


def test_filter_counts_and_search(page: Page) -> None:
    page.evaluate("harness.load(60)")
    states = page.locator("[data-filter=state]")
    counts = dict(zip(states.evaluate_all("els => els.map(e => e.dataset.value)"),
                      states.locator(".count").all_text_contents(), strict=True))
    assert counts == {"all": "60", "downloading": "10", "seeding": "10", "paused": "20",
                      "checking": "10", "error": "10"}
    page.click("[data-filter=state][data-value=paused]")
    expect(rows(page)).to_have_count(20)
    assert {page.evaluate(f"harness.table.get('{x}').state") for x in visible_hashes(page)} == {
        "paused", "stopped"}
    expect(page.locator("[data-filter=state][data-value=paused]")).to_have_attribute(
        "aria-pressed", "true")
    page.click("[data-filter=state][data-value=all]")
    label = page.locator("[data-filter=label][data-value=linux]")
    expect(label.locator(".count")).to_have_text("15")
    label.click()
    expect(rows(page)).to_have_count(15)
    page.fill("#search", "DEBIAN")  # case-insensitive; debian-0, -8, -16 ... with label linux
    expect(rows(page)).to_have_count(8)
    page.fill("#search", "")
    page.click("[data-filter=label][data-none]")
    expect(rows(page)).to_have_count(15)


def test_multi_select_click_shift_ctrl(page: Page) -> None:
    page.evaluate("harness.load(50)")
    page.get_by_role("columnheader", name="Added").get_by_role("button").click()  # ascending
    row = lambda i: page.locator(f"[role=row][data-hash='{h(i)}']")  # noqa: E731
    row(2).click()
    row(6).click(modifiers=["Shift"])
    selected = lambda: sorted(page.evaluate("harness.table.selected()"))  # noqa: E731
    assert selected() == [h(i) for i in range(2, 7)]
    expect(row(4)).to_have_attribute("aria-selected", "true")
    row(9).click(modifiers=["Control"])
    row(4).click(modifiers=["Control"])
    assert selected() == [h(i) for i in (2, 3, 5, 6, 9)]
    expect(row(4)).to_have_attribute("aria-selected", "false")
    row(12).click(modifiers=["Shift"])  # range from the last ctrl-clicked row
    assert selected() == [h(i) for i in range(4, 13)]
    row(1).click()
    assert selected() == [h(1)]
    page.get_by_role("grid").press("Control+a")
    assert len(selected()) == 50
    page.get_by_role("grid").press("Escape")
    assert selected() == []
    page.get_by_role("grid").press("ArrowDown")
    page.get_by_role("grid").press("Shift+ArrowDown")
    assert len(selected()) == 2


def test_diff_touches_only_changed_cells(page: Page) -> None:
    page.evaluate("harness.load(20)")
    page.evaluate(f"""() => {{
      const row = document.querySelector("[data-hash='{h(3)}']");
      window.kept = {{ row, cells: [...row.children] }};
      [...row.children].forEach((c, i) => c.dataset.tag = "t" + i);
      window.writes = [];
      new MutationObserver(records => records.forEach(r => {{
        const node = r.target.nodeType === 1 ? r.target : r.target.parentElement;
        const cell = node.closest("[role=gridcell]");
        if (cell) window.writes.push(cell.className);
      }})).observe(document.querySelector("[role=grid]"),
                   {{subtree: true, childList: true, characterData: true, attributes: true}});
    }}""")
    diff(page, f"[{{hash: '{h(3)}', up_rate: 123456}}]")
    page.evaluate("new Promise(r => setTimeout(r, 0))")
    row = page.locator(f"[data-hash='{h(3)}']")
    expect(row.locator(".c-up_rate")).to_have_text("121 KiB/s")
    assert page.evaluate(f"""() => {{
      const row = document.querySelector("[data-hash='{h(3)}']");
      const same = [...row.children].every((c, i) => c === window.kept.cells[i]);
      return row === window.kept.row && same;
    }}""")
    writes = page.evaluate("window.writes")
    assert writes and all("c-up_rate" in w for w in writes), writes
    # a field that moves the row (sort key) keeps the row element too
    diff(page, f"[{{hash: '{h(3)}', added_at: 1}}]")
    assert page.evaluate(f"document.querySelector(\"[data-hash='{h(3)}']\") === window.kept.row")
    assert page.evaluate("harness.table.view.at(-1)") == h(3)  # added descending: oldest last


def test_new_and_removed_rows(page: Page) -> None:
    page.evaluate("harness.load(20)")
    page.locator(f"[data-hash='{h(5)}']").click()
    diff(page, "[harness.makeRow(20)]", [h(5), h(6)])
    expect(rows(page)).to_have_count(19)
    expect(page.locator(f"[data-hash='{h(5)}']")).to_have_count(0)
    expect(page.locator(f"[data-hash='{h(20)}']")).to_have_count(1)
    assert page.evaluate("harness.table.selected()") == []
    expect(page.locator("[data-filter=state][data-value=all] .count")).to_have_text("19")


def test_ten_thousand_rows_are_virtualised(page: Page) -> None:
    page.evaluate("harness.load(10000)")
    in_dom = page.locator("[role=grid] [role=row][data-hash]").count()
    assert 10 < in_dom < 200
    assert page.get_by_role("grid").get_attribute("aria-rowcount") == "10001"
    page.get_by_role("grid").evaluate("g => { g.scrollTop = 32 * 5000; }")
    page.wait_for_function("harness.table.rendered.has(harness.table.view[5005])")
    assert page.locator("[role=grid] [role=row][data-hash]").count() < 200
    page.get_by_role("grid").evaluate("g => { g.scrollTop = g.scrollHeight; }")
    last = page.evaluate("harness.table.view.at(-1)")
    expect(page.locator(f"[data-hash='{last}']")).to_be_visible()
    assert page.evaluate("harness.measures('pytorrent:table:first-render').length") == 1
    # After the frame that shows the first rows, a mark for benchmarks (bench/ui_page.py).
    page.wait_for_function("performance.getEntriesByName('pytorrent:table:first-paint')"
                           ".length === 1")


def test_diffs_keep_the_view_sorted_and_filtered(page: Page) -> None:
    page.evaluate("harness.load(300)")
    page.get_by_role("columnheader", name="Down").get_by_role("button").click()
    page.click("[data-filter=state][data-value=downloading]")
    changes = ", ".join(f"{{hash: '{h(i)}', down_rate: {(i * 7919) % 100000}}}"
                        for i in range(0, 300, 3))
    diff(page, f"[{changes}, {{hash: '{h(0)}', state: 'seeding'}}, harness.makeRow(300)]",
         [h(6)])
    patched = page.evaluate("harness.table.view.slice()")
    page.evaluate("harness.table.setFilter({})")  # full rebuild for comparison
    assert patched == page.evaluate("harness.table.view.slice()")
    assert h(0) not in patched and h(6) not in patched and h(300) in patched
    rates = page.evaluate("harness.table.view.map(x => harness.table.get(x).down_rate)")
    assert rates == sorted(rates)


def test_snapshot_rows_take_the_defaults_they_leave_out(page: Page) -> None:
    """A snapshot row omits fields at their default; load() fills them, one object per row."""
    page.evaluate("""() => {
        const lean = (i) => ({ hash: harness.hashOf(i), name: `lean-${i}`, size: 1024,
                               completed: 0, progress: 0, state: "stopped", ratio: 0,
                               added_at: 1700000000 + i });
        harness.table.load([lean(1), { ...lean(2), label: "kept" }, lean(3)], 1,
                           { label: "", down_rate: 0, peers: 0, eta: null });
    }""")
    assert page.evaluate(f"harness.table.get('{h(1)}')") == {
        "hash": h(1), "name": "lean-1", "size": 1024, "completed": 0, "progress": 0,
        "state": "stopped", "ratio": 0, "added_at": 1700000001, "label": "", "down_rate": 0,
        "peers": 0, "eta": None}
    assert page.evaluate(f"harness.table.get('{h(2)}').label") == "kept"
    diff(page, f"[{{hash: '{h(1)}', label: 'tv'}}]")
    expect(page.locator(f"[data-hash='{h(1)}'] .c-label")).to_have_text("tv")
    expect(page.locator(f"[data-hash='{h(2)}'] .c-label")).to_have_text("kept")
    assert page.evaluate(f"harness.table.get('{h(3)}').label") == ""  # no shared object
