"""The built documentation site, opened page by page in headless Chromium.

The site is built afresh (``mkdocs build --strict``, as ``./dev docs`` does)
and served on the loopback; Playwright drives Debian's ``chromium`` (the
browser Playwright would download cannot be fetched here). Every page must
load without a console error, a failed request, a broken link or image; the
cookbook's plots must render; the search must find "rolling", "scan" and "fold".
"""

from __future__ import annotations

import functools
import http.server
import re
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urljoin, urlparse

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
COOKBOOK_PLOTS = (
    (ROOT / "docs" / "cookbook" / "index.md").read_text(encoding="utf-8").count("<!-- plot:")
)
"""The plots the cookbook asks the build to draw (one per recipe)."""


def _browser_path() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("no chromium on PATH: apt-get install -y chromium (./dev test installs it)")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("site")
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(folder)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    return folder


@pytest.fixture(scope="module")
def base_url(site: Path) -> Iterator[str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright import sync_api  # the docs group, which ./dev test installs

    executable = _browser_path()
    with sync_api.sync_playwright() as playwright:
        # Root has no user namespaces for Chromium's sandbox here.
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


def _pages(site: Path) -> list[str]:
    return sorted(path.relative_to(site).as_posix() for path in site.rglob("*.html"))


class _Links:
    """Internal link targets, each fetched once; a fragment must name an id there."""

    def __init__(self, base_url: str) -> None:
        self._base = base_url
        self._html: dict[str, str | None] = {}

    def problem(self, href: str) -> str | None:
        address, fragment = urldefrag(href)
        if address not in self._html:
            try:
                with urllib.request.urlopen(address, timeout=30) as response:
                    body = response.read()
                kind = response.headers.get_content_type()
                self._html[address] = body.decode("utf-8") if kind == "text/html" else ""
            except urllib.error.URLError as error:
                self._html[address] = None
                return f"{href}: {error}"
        html = self._html[address]
        if html is None:
            return f"{href}: not found"
        if fragment and not re.search(rf'id="{re.escape(fragment)}"', html):
            return f"{href}: no element with id {fragment!r}"
        return None


def test_every_page_loads_cleanly(site: Path, base_url: str, browser: Any) -> None:
    pages = _pages(site)
    assert {"index.html", "cookbook/index.html", "reference/cli/index.html"} <= set(pages)
    links = _Links(base_url)
    problems: list[str] = []
    context = browser.new_context()
    for name in pages:
        url = urljoin(base_url, name)
        tab = context.new_page()
        tab.on(
            "console",
            lambda message, name=name: (
                problems.append(f"{name}: console {message.type}: {message.text}")
                if message.type == "error"
                else None
            ),
        )
        tab.on("pageerror", lambda error, name=name: problems.append(f"{name}: {error}"))
        tab.on(
            "requestfailed",
            lambda request, name=name: problems.append(f"{name}: request failed {request.url}"),
        )
        tab.on(
            "response",
            lambda response, name=name: (
                problems.append(f"{name}: {response.status} for {response.url}")
                if response.status >= 400
                else None
            ),
        )
        tab.goto(url, wait_until="load")
        images = tab.eval_on_selector_all(
            "img", "nodes => nodes.map(n => [n.currentSrc, n.complete, n.naturalWidth])"
        )
        problems.extend(
            f"{name}: image {source} did not load"
            for source, complete, width in images
            if not (complete and width > 0)
        )
        hrefs = tab.eval_on_selector_all("a[href]", "nodes => nodes.map(n => n.href)")
        for href in hrefs:
            if urlparse(href).netloc == urlparse(base_url).netloc:
                problem = links.problem(href)
                if problem:
                    problems.append(f"{name}: link {problem}")
        tab.close()
    context.close()
    assert not problems, "\n".join(problems)


def test_the_cookbook_plots_render(base_url: str, browser: Any) -> None:
    tab = browser.new_page()
    tab.goto(urljoin(base_url, "cookbook/"), wait_until="load")
    plots = tab.eval_on_selector_all(
        "img.score-plot",
        "nodes => nodes.map(n => [n.getAttribute('src'), n.naturalWidth, n.naturalHeight])",
    )
    tab.close()
    assert len(plots) == COOKBOOK_PLOTS >= 10, plots
    for source, width, height in plots:
        assert width >= 400 and height >= 200, (source, width, height)


@pytest.mark.parametrize("query", ["rolling", "scan", "fold"])
def test_the_search_finds(query: str, base_url: str, browser: Any) -> None:
    tab = browser.new_page()
    from playwright.sync_api import TimeoutError as NoAnswerYet

    tab.goto(base_url, wait_until="load")
    results = tab.locator(".md-search-result__item")
    # The search worker loads its index after the page: a query typed
    # before it is ready finds nothing, so type it again until it answers.
    for _ in range(20):
        # Typed as a person types: the search reacts to keys in the focused
        # field (the header's, shown at the default 1280-pixel width).
        tab.click("input.md-search__input")
        tab.keyboard.press("Control+A")
        tab.keyboard.press("Backspace")
        tab.keyboard.type(query)
        try:
            results.first.wait_for(state="visible", timeout=1_000)
            break
        except NoAnswerYet:
            continue
    found = results.count()
    summary = tab.locator(".md-search-result__meta").inner_text()
    tab.close()
    assert found > 0, summary
    assert "matching document" in summary, summary
