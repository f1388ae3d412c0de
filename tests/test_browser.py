"""The built book, opened in headless Chromium with the network cut off: the Gaussian chapter's figures load, its
verdict table is there, and its math is typeset by the MathJax that _build/html serves itself (never a CDN).

Run by `make browser` after the book is built. Skipped when Chromium is absent, unless
FORTIFAI_REQUIRE_BROWSER=1 (as in CI), where a missing browser or book is a failure.
"""

import os
import re
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent
HTML = REPO / "_build" / "html"
PAGE = HTML / "notebooks" / "gaussian_variance.html"
REQUIRED = os.environ.get("FORTIFAI_REQUIRE_BROWSER") == "1"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def _require(condition: bool, reason: str) -> None:
    if not condition:
        (pytest.fail if REQUIRED else pytest.skip)(reason)


MATH = """() => {
    const math = Array.from(document.querySelectorAll('.math'));
    return {n: math.length, typeset: math.filter(m => m.querySelector('mjx-container')).length,
            text: document.body.innerText,
            renderers: Array.from(document.scripts).map(s => s.src).filter(src => /mathjax/i.test(src))};
}"""


@pytest.fixture(scope="module")
def gaussian_page() -> dict:
    """What Chromium shows of the Gaussian chapter, opened from _build/html with every http(s) request refused."""
    _require(CHROMIUM is not None, "Chromium not found (Debian: apt-get install chromium)")
    _require(PAGE.is_file(), f"book not built: {PAGE} missing (run make book-strict first)")
    from playwright.sync_api import sync_playwright

    screenshot = REPO / "_build" / "screenshots" / "gaussian_variance.png"
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    network = []

    def refuse(route):
        network.append(route.request.url)
        route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.route(re.compile(r"^https?://"), refuse)
        page.goto(PAGE.as_uri(), wait_until="load")
        # MathJax 3 resolves startup.promise once the page is typeset (undefined when MathJax never loaded)
        page.evaluate("() => window.MathJax && window.MathJax.startup && window.MathJax.startup.promise")
        shown = dict(
            title=page.title(), math=page.evaluate(MATH), network=network, screenshot=screenshot,
            images=page.evaluate(
                "Array.from(document.querySelectorAll('main img, article img')).map(i => "
                "({src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0, w: i.naturalWidth}))"
            ),
            tables=page.evaluate("Array.from(document.querySelectorAll('table')).map(t => t.innerText)"),
        )
        page.screenshot(path=str(screenshot), full_page=True)
        browser.close()
    return shown


def test_gaussian_page_figures_load_in_chromium(gaussian_page):
    assert "Gaussian" in gaussian_page["title"]
    images = gaussian_page["images"]
    assert len(images) >= 4, f"expected the chapter's 4 figures, found {images}"
    broken = [i["src"] for i in images if not i["ok"]]
    assert not broken, f"images that did not load: {broken}"
    assert any("verdict" in t and "reproduced" in t for t in gaussian_page["tables"]), "closing verdict table missing"
    assert gaussian_page["screenshot"].stat().st_size > 10_000


def test_gaussian_page_math_is_typeset_offline_by_the_books_own_mathjax(gaussian_page):
    math = gaussian_page["math"]
    served = [Path(unquote(urlparse(src).path)) for src in math["renderers"] if src.startswith("file:")]
    assert len(math["renderers"]) == 1 and served, f"expected one MathJax script from the book, found {math['renderers']}"
    assert served[0].is_relative_to(HTML) and served[0].is_file(), f"MathJax not served from {HTML}: {served[0]}"
    asked = [url for url in gaussian_page["network"] if "mathjax" in url.lower()]
    assert not asked, f"the page asked the network for MathJax: {asked}"
    assert math["n"] >= 5 and math["typeset"] == math["n"], f"{math['typeset']} of {math['n']} math elements typeset"
    raw = [delimiter for delimiter in ("\\(", "\\[", "$$") if delimiter in math["text"]]
    assert not raw, f"raw TeX visible in the page text: {raw}"
