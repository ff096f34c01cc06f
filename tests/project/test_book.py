"""End to end: the built book (``make book``, in ``build/book/``) opened page by page in headless Chromium.

Every page of the site must open with no console error, every image must load, every link to a
page or anchor of the site must resolve, equations must be typeset by the site's own MathJax, and
no request may leave the machine (the site is served from 127.0.0.1; any other request is
aborted and fails the test). Screenshots of the home page and of a notebook page go to
``test-artifacts/book/`` (git-ignored).

``make test`` builds the book first. Needs the ``web`` extra (playwright) and Debian's
``chromium``; missing either is a failure, not a skip: CI must run this test.
"""

from __future__ import annotations

import functools
import http.server
import sys
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlparse

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[2]
SITE = REPO / "build" / "book"
ARTIFACTS = REPO / "test-artifacts" / "book"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
LOAD_TIMEOUT_MS = 60_000
NOTEBOOK_SHOT = "results/notebooks/02_loss_landscapes.html"


def source_pages() -> dict[str, Path]:
    """Each page the book must have (path in the site) and the source it is built from."""
    sources = [p for p in sorted((REPO / "docs").glob("*.md")) if not p.name.startswith("_")]
    sources += sorted((REPO / "results" / "notebooks").glob("[0-9][0-9]_*.ipynb")) + [REPO / "data" / "README.md"]
    return {str(p.relative_to(REPO).with_suffix(".html")): p for p in sources}


PAGES = [*source_pages(), "genindex.html", "search.html"]  # index.html redirects: its own test


@pytest.fixture(scope="module")
def site() -> Path:
    """The built site; fails when it is missing or older than a source page."""
    if not (SITE / "index.html").exists():
        pytest.fail(f"the book is not built: run `make book` (it writes {SITE.relative_to(REPO)})", pytrace=False)
    stale = [
        str(src.relative_to(REPO))
        for page, src in source_pages().items()
        if not (SITE / page).exists() or src.stat().st_mtime > (SITE / page).stat().st_mtime
    ]
    if stale:
        pytest.fail(f"the book is older than {stale}: run `make book`", pytrace=False)
    return SITE


@pytest.fixture(scope="module")
def server(site):
    """Serve the site on a free local port; yield its base URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def browser(chromium):
    """Headless Debian Chromium through Playwright (the ``chromium`` fixture checks both exist)."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):  # a failed run must not leave an earlier run's screenshots
        old.unlink()
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium, args=LAUNCH_ARGS, headless=True)
        try:
            yield launched
        finally:
            launched.close()


class _Ids(HTMLParser):
    """Every ``id`` (and legacy ``name``) an HTML page defines: the anchors a link may point to."""

    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.ids.update(value for key, value in attrs if key in ("id", "name") and value)


@functools.cache
def anchors(path: Path) -> frozenset[str]:
    parser = _Ids()
    parser.feed(path.read_text(errors="replace"))
    return frozenset(parser.ids)


def broken_links(hrefs: list[str], base: str) -> list[str]:
    """The links into the site whose page or anchor does not exist."""
    broken = []
    for href in sorted(set(hrefs)):
        if not href.startswith(base):
            continue  # another scheme (mailto:) or an outside address: not fetched, not checked
        url, fragment = urldefrag(href)
        target = SITE / unquote(urlparse(url).path).lstrip("/")
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            broken.append(f"{href}: no such file")
        elif fragment and target.suffix == ".html" and unquote(fragment) not in anchors(target):
            broken.append(f"{href}: no anchor #{fragment} in {target.relative_to(SITE)}")
    return broken


LOAD_ALL_IMAGES = """async () => {
    const images = Array.from(document.images);
    images.forEach(img => { img.loading = "eager"; });
    await Promise.all(images.map(img => img.complete ? null : new Promise(r => { img.onload = img.onerror = r; })));
    return images.filter(img => !(img.naturalWidth > 0)).map(img => img.currentSrc || img.src);
}"""
# MathJax 2 typesets asynchronously: wait for its queue to drain, then count
MATH_DONE = "() => new Promise(done => window.MathJax && MathJax.Hub ? MathJax.Hub.Queue(done) : done())"
MATH_COUNTS = """() => ({
    math: document.querySelectorAll(".math").length,
    typeset: document.querySelectorAll(".MathJax_CHTML").length,
    errors: document.querySelectorAll(".MathJax_Error, .mjx-error, merror").length,
})"""


def open_page(browser, base: str, page_path: str):
    """Open one page; return (page, problems found while loading); the caller closes the page."""
    problems: list[str] = []

    def route(route):
        host = urlparse(route.request.url).hostname
        if route.request.url.startswith(("data:", "blob:")) or host in LOCAL_HOSTS:
            route.continue_()
        else:
            problems.append(f"request left the machine: {route.request.url}")
            route.abort()

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.route("**/*", route)
    page.on("console", lambda m: m.type == "error" and problems.append(f"console error: {m.text} ({m.location})"))
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"HTTP {r.status}: {r.url}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} ({r.failure})"))
    page.goto(base + page_path, wait_until="load", timeout=LOAD_TIMEOUT_MS)
    page.wait_for_load_state("networkidle", timeout=LOAD_TIMEOUT_MS)
    return page, problems


@pytest.mark.parametrize("page_path", PAGES)
def test_page_loads_offline_with_images_links_and_no_errors(browser, server, page_path):
    if not (SITE / page_path).exists():
        pytest.fail(f"the book has no page {page_path}: run `make book`", pytrace=False)
    page, problems = open_page(browser, server, page_path)
    try:
        problems += [f"image did not load: {src}" for src in page.evaluate(LOAD_ALL_IMAGES)]
        page.evaluate(MATH_DONE)
        counts = page.evaluate(MATH_COUNTS)
        if counts["typeset"] < counts["math"] or counts["errors"]:
            problems.append(
                f"MathJax typeset {counts['typeset']} of {counts['math']} formulas, {counts['errors']} errors"
            )
        hrefs = page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
        problems += broken_links(hrefs, server)
        if page_path.startswith("results/notebooks/"):
            problems += _provenance_problems(page, source_pages()[page_path])
        if page_path == "docs/index.html":
            page.screenshot(path=ARTIFACTS / "home.png")
        if page_path == NOTEBOOK_SHOT:  # scrolled to its first figure
            page.evaluate("document.querySelector('.cell_output img').scrollIntoView({block: 'center'})")
            page.screenshot(path=ARTIFACTS / "notebook.png")
    finally:
        page.close()
    assert not problems, f"{page_path}:\n" + "\n".join(problems)


def _provenance_problems(page, notebook: Path) -> list[str]:
    """A notebook executed by the runner records its commit and date: its page must show them."""
    record = nbformat.read(notebook, as_version=4).metadata.get("sot_study")
    if record is None:
        return []  # executed before provenance was recorded
    text = page.inner_text("main")
    return [] if record["commit"] in text and record["date_utc"] in text else ["the page does not show its provenance"]


def test_the_method_page_has_typeset_equations(browser, server):
    page, problems = open_page(browser, server, "docs/method.html")
    try:
        page.evaluate(MATH_DONE)
        counts = page.evaluate(MATH_COUNTS)
    finally:
        page.close()
    assert not problems
    assert counts["math"] > 50 and counts["typeset"] == counts["math"] and counts["errors"] == 0, counts


def test_the_site_root_opens_the_home_page(browser, server):
    page, problems = open_page(browser, server, "index.html")
    try:
        page.wait_for_url("**/docs/index.html", timeout=LOAD_TIMEOUT_MS)
        title = page.locator("h1").first.inner_text()
    finally:
        page.close()
    assert not problems
    assert "Spectral Optimal Transport" in title


def test_the_home_page_links_every_notebook_and_guide(site):
    home = (site / "docs" / "index.html").read_text()
    for page in source_pages():
        if page != "docs/index.html":
            name = Path(page).name
            assert f'{name}"' in home or f"{name}#" in home, f"the home page does not link {page}"


def test_broken_links_are_caught(tmp_path, monkeypatch):
    """The link oracle above is not vacuous."""
    monkeypatch.setattr(sys.modules[__name__], "SITE", tmp_path)
    (tmp_path / "a.html").write_text('<h1 id="top">a</h1>')
    base = "http://127.0.0.1:1/"
    assert broken_links([base + "a.html#top", "https://example.org/x", base + "a.html"], base) == []
    assert broken_links([base + "a.html#nope", base + "b.html"], base) == [
        f"{base}a.html#nope: no anchor #nope in a.html",
        f"{base}b.html: no such file",
    ]
