"""The built book, opened in headless Chromium: the Gaussian chapter's figures load and its verdict table is there.

Run by `make browser` after the book is built. Skipped when Chromium is absent, unless
FORTIFAI_REQUIRE_BROWSER=1 (as in CI), where a missing browser or book is a failure.
"""

import os
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent
PAGE = REPO / "_build" / "html" / "notebooks" / "gaussian_variance.html"
REQUIRED = os.environ.get("FORTIFAI_REQUIRE_BROWSER") == "1"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def _require(condition: bool, reason: str) -> None:
    if not condition:
        (pytest.fail if REQUIRED else pytest.skip)(reason)


def test_gaussian_page_figures_load_in_chromium():
    _require(CHROMIUM is not None, "Chromium not found (Debian: apt-get install chromium)")
    _require(PAGE.is_file(), f"book not built: {PAGE} missing (run make book-strict first)")
    from playwright.sync_api import sync_playwright

    screenshot = REPO / "_build" / "screenshots" / "gaussian_variance.png"
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(PAGE.as_uri(), wait_until="load")
        images = page.evaluate(
            "Array.from(document.querySelectorAll('main img, article img')).map(i => "
            "({src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0, w: i.naturalWidth}))"
        )
        tables = page.evaluate("Array.from(document.querySelectorAll('table')).map(t => t.innerText)")
        title = page.title()
        page.screenshot(path=str(screenshot), full_page=True)
        browser.close()
    assert "Gaussian" in title
    assert len(images) >= 4, f"expected the chapter's 4 figures, found {images}"
    broken = [i["src"] for i in images if not i["ok"]]
    assert not broken, f"images that did not load: {broken}"
    assert any("verdict" in t and "reproduced" in t for t in tables), "closing verdict table missing"
    assert screenshot.stat().st_size > 10_000
