"""report.html as a browser renders it: flagged rows, embedded plots, markup in captions shown as text."""
from __future__ import annotations

import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from tests.report_run import IMG, SCRIPT, scanned_run

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason="headless Chromium missing: apt-get install -y chromium")


def chromium(page: Path, profile: Path, *args: str) -> str:
    """Run headless Chromium on a local page with a fresh profile; its stdout."""
    done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                           "--disable-component-update", "--disable-sync", "--no-first-run",
                           f"--user-data-dir={profile}", *args, page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


class Dom(HTMLParser):
    """Elements, text, title and the number of body rows of table#flagged of a serialized DOM."""

    def __init__(self, markup: str):
        super().__init__()
        self.elements, self.text, self.title, self.flagged_rows = [], [], "", 0
        self._open: list[str] = []
        self._in_flagged = False
        self.feed(markup)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.elements.append((tag, attrs))
        self._open.append(tag)
        self._in_flagged |= tag == "table" and attrs.get("id") == "flagged"
        self.flagged_rows += self._in_flagged and tag == "tr" and "tbody" in self._open

    def handle_endtag(self, tag):
        if tag in self._open:
            del self._open[len(self._open) - 1 - self._open[::-1].index(tag):]
        self._in_flagged &= tag != "table"

    def handle_data(self, data):
        self.text.append(data)
        if self._open and self._open[-1] == "title":
            self.title += data


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, tiny_eps):
    run = scanned_run(tmp_path_factory, tiny_eps)
    work = tmp_path_factory.mktemp("browser")
    dom = Dom(chromium(run / "report.html", work / "profile-dom", "--dump-dom"))
    chromium(run / "report.html", work / "profile-shot", f"--screenshot={work / 'shot.png'}", "--window-size=1280,2000")
    return run, dom, work / "shot.png"


def test_flagged_table_has_one_row_per_flagged_caption(rendered):
    run, dom, _ = rendered
    flagged = json.loads((run / "summary.json").read_text())["flagged"]
    assert 0 < flagged < 500 and dom.flagged_rows == flagged


def test_plots_are_embedded_images(rendered):
    _, dom, _ = rendered
    images = [attrs for tag, attrs in dom.elements if tag == "img"]
    assert {a.get("data-plot") for a in images} == {"score_histogram", "score_terms", "score_dup_count"}
    assert all(a["src"].startswith("data:image/png;base64,") and len(a["src"]) > 5000 for a in images)


def test_markup_in_captions_and_urls_stays_text(rendered):
    _, dom, _ = rendered
    text = "".join(dom.text)
    assert SCRIPT in text and IMG in text
    assert not [tag for tag, _ in dom.elements if tag in ("script", "iframe", "object", "embed")]
    assert dom.title == "Memorization audit"  # the onerror handler of an injected <img> would have renamed it
    hrefs = [attrs["href"] for tag, attrs in dom.elements if tag == "a"]
    assert any(h.startswith("https://example.test/") for h in hrefs)
    assert all(h.startswith(("#", "https://example.test/")) for h in hrefs)
    assert "javascript:document.title='pwned'" in text  # shown, not linked


def test_screenshot_is_not_blank(rendered):
    _, _, shot = rendered
    pixels = imread(shot)[..., :3]
    assert pixels.shape[:2] == (2000, 1280)
    assert pixels.std() > 0.05 and len(np.unique(pixels.reshape(-1, 3), axis=0)) > 100
