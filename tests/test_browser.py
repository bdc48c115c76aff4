"""The built book as a reader sees it: every page of ``_build/html`` in headless Chromium.

Each page is opened at 1,400 x 900 px (issue 14) and checked for:

* images that did not load (``naturalWidth == 0``);
* MathJax errors, and raw ``\\(``, ``\\[``, ``$$`` left in the visible text (math that was
  never typeset);
* horizontal overflow: of the main content column, of the page, of printed outputs
  (``div.cell_output pre``) and of tables;
* the scorecard's summary table not fully visible (its right edge must be inside the
  viewport and inside the content column, no cell content spilling over);
* internal links whose file does not exist, or whose ``#anchor`` is not an id in the
  target page;
* resources that failed to load (the browser's console).

A screenshot of the first screen of each page goes to ``<screenshots>/<page>.png`` and one
of the whole page to ``<page>.full.png``, where ``<screenshots>`` is ``$BOOK_SCREENSHOTS_DIR``
or ``goldilocks-book-screenshots`` in the system's temporary folder (tests never write into
the checkout's ``_build/``; the first test prints the folder).

Needs Debian's ``chromium`` and ``chromium-driver`` (``scripts/install_browser.sh``) and
the ``selenium`` package; nothing is downloaded at run time. Without them, or without a
built book, the tests are skipped with a message saying what is missing. Set
``BROWSER_TEST_REQUIRED=1`` (CI, after installing the browser) to make that a failure.

    python -m goldilocks_nb.book build --profile smoke
    python -m pytest tests/test_browser.py -m browser -v
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("BOOK_HTML_DIR", ROOT / "_build" / "html"))
SHOTS = Path(os.environ.get("BOOK_SCREENSHOTS_DIR",
                           Path(tempfile.gettempdir()) / "goldilocks-book-screenshots"))
WIDTH, HEIGHT = 1400, 900
SKIPPED_PAGES = {"search.html", "genindex.html"}
BUILD_HINT = ("build it first: PYTHONPATH=src python -m goldilocks_nb.book build "
              "--profile smoke")
INSTALL_HINT = ("install with `bash scripts/install_browser.sh` (apt-get install -y chromium "
                "chromium-driver) and `pip install selenium==4.51.0`")


def _pages() -> list[str]:
    if not HTML.is_dir():
        return []
    return sorted(
        p.relative_to(HTML).as_posix() for p in HTML.rglob("*.html")
        if p.name not in SKIPPED_PAGES
        and not any(part.startswith(("_", ".")) for part in p.relative_to(HTML).parts)
    )


PAGES = _pages()


def _missing(what: str) -> None:
    """Skip (or fail under BROWSER_TEST_REQUIRED=1) naming what is missing."""
    if os.environ.get("BROWSER_TEST_REQUIRED") == "1":
        pytest.fail(f"{what} (BROWSER_TEST_REQUIRED=1)")
    pytest.skip(what)


def _find(env: str, names: tuple[str, ...], extra: tuple[str, ...] = ()) -> str | None:
    if os.environ.get(env):
        return os.environ[env]
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return next((p for p in extra if Path(p).is_file()), None)


@pytest.fixture(scope="module")
def driver():
    if not (HTML / "index.html").is_file():
        _missing(f"no built book at {HTML} (no index.html); {BUILD_HINT}")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing(f"the selenium package is not installed; {INSTALL_HINT}")
    browser = _find("CHROME_BIN", ("chromium", "chromium-browser", "google-chrome"),
                    ("/usr/lib/chromium/chromium",))
    chromedriver = _find("CHROMEDRIVER", ("chromedriver",),
                         ("/usr/lib/chromium/chromedriver",))
    if not (browser and Path(browser).is_file() and chromedriver
            and Path(chromedriver).is_file()):
        missing = " and ".join(f"{n} ({p})" if p else n
                               for n, p in (("chromium", browser), ("chromedriver", chromedriver))
                               if not (p and Path(p).is_file()))
        _missing(f"no {missing} found (PATH, CHROME_BIN, CHROMEDRIVER); {INSTALL_HINT}")
    opts = webdriver.ChromeOptions()
    opts.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={WIDTH},{HEIGHT}", "--force-device-scale-factor=1",
                "--hide-scrollbars", "--allow-file-access-from-files"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        drv = webdriver.Chrome(service=Service(executable_path=chromedriver), options=opts)
    except Exception as exc:  # noqa: BLE001 - a browser that cannot start is "missing"
        _missing(f"chromium ({browser}) with chromedriver ({chromedriver}) did not start: "
                 f"{str(exc).splitlines()[0]}; {INSTALL_HINT}")
    # make the viewport (not the window) WIDTH x HEIGHT
    inner = drv.execute_script("return [window.innerWidth, window.innerHeight]")
    size = drv.get_window_size()
    drv.set_window_size(size["width"] + WIDTH - inner[0], size["height"] + HEIGHT - inner[1])
    drv.set_page_load_timeout(60)
    drv.set_script_timeout(60)
    SHOTS.mkdir(parents=True, exist_ok=True)
    print(f"screenshots: {SHOTS}")
    yield drv
    drv.quit()


class _Ids(HTMLParser):
    """Every ``id`` (and ``<a name>``) in an HTML file: the anchors a link may target."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if key == "id" or (tag == "a" and key == "name"):
                self.ids.add(value or "")


_ID_CACHE: dict[Path, set[str]] = {}


def _ids(path: Path) -> set[str]:
    if path not in _ID_CACHE:
        parser = _Ids()
        parser.feed(path.read_text(encoding="utf-8", errors="replace"))
        _ID_CACHE[path] = parser.ids
    return _ID_CACHE[path]


def _broken_links(page: Path, hrefs: list[str]) -> list[str]:
    """Internal links of ``page`` whose file is missing or whose anchor is not in it."""
    bad = []
    for href in sorted(set(hrefs)):
        parts = urlsplit(href)
        if parts.scheme in ("http", "https", "mailto", "javascript", "data"):
            continue
        if parts.scheme == "file":
            target = Path(unquote(parts.path))
        elif parts.scheme or parts.netloc:
            continue
        elif parts.path:
            target = (page.parent / unquote(parts.path)).resolve()
        else:
            target = page
        if target.is_dir():
            target = target / "index.html"
        if not target.exists():
            bad.append(f"{href}: no file {target}")
            continue
        frag = unquote(parts.fragment)
        if frag and target.suffix == ".html" and frag not in _ids(target):
            bad.append(f"{href}: no id {frag!r} in {target.name}")
    return bad


_WAIT_JS = """
const done = arguments[arguments.length - 1];
const images = Array.from(document.images).map(img => {
  img.loading = 'eager';
  if (img.complete) return Promise.resolve();
  return new Promise(r => { img.onload = img.onerror = r; setTimeout(r, 15000); });
});
const math = (window.MathJax && MathJax.startup && MathJax.startup.promise)
  ? MathJax.startup.promise.catch(() => null) : Promise.resolve();
Promise.all([...images, math]).then(() => done(true), () => done(false));
"""

_CHECK_JS = """
const out0 = [window.innerWidth, window.innerHeight];
const main = document.querySelector('article.bd-article') || document.querySelector('main')
  || document.body;
const out = {problems: [], hrefs: [], scorecard: null, viewport: out0};
const name = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
  + (el.className && typeof el.className === 'string'
     ? '.' + el.className.trim().split(/\\s+/).join('.') : '');
for (const img of document.images) {
  if (!img.complete || img.naturalWidth === 0)
    out.problems.push('image not loaded: ' + (img.getAttribute('src') || '?'));
}
for (const el of document.querySelectorAll('mjx-merror, .MathJax_Error, [data-mjx-error]'))
  out.problems.push('MathJax error: ' + (el.getAttribute('data-mjx-error') || el.textContent)
                    .slice(0, 120));
// all text a reader can see: the content column and the navigation around it
const clone = document.body.cloneNode(true);
for (const el of clone.querySelectorAll(
    'pre, code, script, style, mjx-container, .MathJax, .highlight, textarea'))
  el.remove();
const text = clone.textContent;
for (const raw of ['\\\\(', '\\\\[', '$$', '\\\\begin{']) {
  const at = text.indexOf(raw);
  if (at >= 0) out.problems.push('raw math ' + JSON.stringify(raw) + ' in visible text: ...'
    + text.slice(Math.max(0, at - 40), at + 60).replace(/\\s+/g, ' ') + '...');
}
if (main.scrollWidth > main.clientWidth + 1)
  out.problems.push(`main column overflows: scrollWidth ${main.scrollWidth} > clientWidth `
                    + `${main.clientWidth} (${name(main)})`);
const docEl = document.documentElement;
if (docEl.scrollWidth > window.innerWidth + 1)
  out.problems.push(`page scrolls horizontally: ${docEl.scrollWidth} > ${window.innerWidth}`);
const mainRight = main.getBoundingClientRect().right;
for (const el of main.querySelectorAll(
    'div.cell_output pre, div.output pre, table, .pst-scrollable-table-container')) {
  if (el.closest('details:not([open])')) continue;
  if (el.scrollWidth > el.clientWidth + 1 || el.getBoundingClientRect().right > mainRight + 1) {
    const first = (el.textContent || '').trim().split('\\n')[0].slice(0, 80);
    out.problems.push(`${name(el)} overflows (scrollWidth ${el.scrollWidth} > `
                      + `${el.clientWidth}): ${JSON.stringify(first)}`);
  }
}
const card = document.querySelector('table.scorecard-summary');
if (card) {
  const r = card.getBoundingClientRect();
  const box = (card.closest('.pst-scrollable-table-container') || card.parentElement)
    .getBoundingClientRect();
  out.scorecard = {right: r.right, width: r.width, viewport: window.innerWidth,
                   container_right: box.right, main_right: mainRight,
                   rows: card.querySelectorAll('tbody tr').length};
  if (r.right > window.innerWidth || r.right > box.right + 1 || r.right > mainRight + 1)
    out.problems.push(`scorecard table not fully visible: right edge ${r.right.toFixed(0)} `
      + `vs viewport ${window.innerWidth}, container ${box.right.toFixed(0)}, `
      + `column ${mainRight.toFixed(0)}`);
  for (const cell of card.querySelectorAll('th, td')) {
    for (const el of [cell, ...cell.querySelectorAll('span.verdict')]) {
      const er = el.getBoundingClientRect(), cr = cell.getBoundingClientRect();
      if (el.scrollWidth > el.clientWidth + 1 || er.right > cr.right + 1) {
        out.problems.push('scorecard cell content spills over: '
                          + JSON.stringify(cell.textContent.trim().slice(0, 60)));
        break;
      }
    }
  }
}
for (const a of document.querySelectorAll('a[href]')) out.hrefs.push(a.getAttribute('href'));
return out;
"""


def _screenshots(driver, page: str) -> None:
    stem = page.removesuffix(".html").replace("/", "__")
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(str(SHOTS / f"{stem}.png"))
    try:  # the whole page, as one image (Chromium's DevTools protocol)
        import base64

        height = min(int(driver.execute_script(
            "return document.documentElement.scrollHeight")), 20000)
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": WIDTH, "height": height, "scale": 1}})
        (SHOTS / f"{stem}.full.png").write_bytes(base64.b64decode(shot["data"]))
    except Exception:  # noqa: BLE001 - the first-screen shot above is the one promised
        pass


#: Console errors that are known upstream bugs without effect on the page. Sphinx 7.x
#: writes inline scripts added at ``builder-inited``/``env-before-read-docs`` twice, so
#: sphinx-thebe's ``const THEBE_JS_URL`` is declared twice (fixed in Sphinx 8 by
#: sphinx-doc/sphinx#13402; jupyter-book 1 needs Sphinx 7). Thebe is not used here.
KNOWN_CONSOLE_ERRORS = ("Identifier 'THEBE_JS_URL' has already been declared",)


def _console_problems(driver) -> list[str]:
    """Resources that failed to load and script errors, from the browser's console."""
    try:
        logs = driver.get_log("browser")
    except Exception:  # noqa: BLE001 - not every driver keeps a console log
        return []
    out = []
    for e in logs:
        msg = e.get("message", "")
        if (e.get("level") != "SEVERE" or any(k in msg for k in KNOWN_CONSOLE_ERRORS)
                or not ("Failed to load resource" in msg or "Uncaught" in msg)):
            continue  # e.g. pydata-sphinx-theme's console.error on an unset theme mode
        if "Failed to load resource" in msg and "://" in msg and "file://" not in msg[:8]:
            msg = ("remote resource (the book must render offline): " + msg)
        out.append(f"console: {msg[:240]}")
    return out


_REFRESH = re.compile(r'<meta\s+http-equiv="refresh"\s+content="\d+;\s*url=([^"]+)"', re.I)


@pytest.mark.parametrize("page", PAGES or [None])
def test_page_renders(driver, page):
    if page is None:
        _missing(f"no pages under {HTML}; {BUILD_HINT}")
    path = HTML / page
    redirect = _REFRESH.search(path.read_text(encoding="utf-8", errors="replace"))
    if redirect and len(path.read_bytes()) < 1000:  # a redirect page (index.html)
        assert not _broken_links(path, [redirect.group(1)]), f"{page} redirects nowhere"
        return
    _console_problems(driver)  # empties the console log of the previous page
    driver.get(path.as_uri())
    driver.execute_async_script(_WAIT_JS)
    result = driver.execute_script(_CHECK_JS)
    _screenshots(driver, page)
    problems = list(result["problems"])
    if result["viewport"] != [WIDTH, HEIGHT]:
        problems.append(f"viewport is {result['viewport']}, not {[WIDTH, HEIGHT]}")
    problems += _console_problems(driver)
    problems += [f"broken link {b}" for b in _broken_links(path, result["hrefs"])]
    assert not problems, f"{page} at {WIDTH}x{HEIGHT}:\n  " + "\n  ".join(problems)


def test_scorecard_summary_visible(driver):
    page = HTML / "book" / "scorecard.html"
    if not page.is_file():
        pytest.fail(f"no scorecard page at {page}; the book build should write it")
    driver.get(page.as_uri())
    driver.execute_async_script(_WAIT_JS)
    result = driver.execute_script(_CHECK_JS)
    card = result["scorecard"]
    assert card is not None, "no table.scorecard-summary on the scorecard page"
    from goldilocks_nb.scorecard import load_claim_list

    n_claims = len(load_claim_list(ROOT / "book" / "claims.yml"))  # C1-C27 and the B<n>
    assert n_claims >= 27 and card["rows"] == n_claims, card
    assert card["right"] <= card["viewport"] and card["right"] <= card["main_right"] + 1, card
    badges = driver.execute_script(
        "return Array.from(document.querySelectorAll('table.scorecard-summary span.verdict'))"
        ".map(b => [b.textContent, getComputedStyle(b).backgroundColor])")
    assert len(badges) == n_claims
    # the badge is styled by custom.css: a background colour, not the transparent default
    assert all(bg not in ("rgba(0, 0, 0, 0)", "transparent") for _, bg in badges), badges
