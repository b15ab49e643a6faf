"""Reports rendered in a real browser (issue #15): headless Chromium (Debian's ``chromium``,
installed by ``scripts/test.sh``) loads each page, and a script measures it after load.

Checked for the trial report (one run with its power analysis, the page a designer reads) and
the population report: no element reaches past the 1,400-pixel viewport, every image loaded,
no "nan", "None" or raw Python dictionary in the text. A screenshot of each page is written to
``$MSCSIM_SCREENSHOTS`` (default: the test's temporary folder) for a person to look at.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mscsim.cli import main
from tests._trial_helpers import tiny_spec_file

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed "
                                "(scripts/test.sh installs it with apt)")
VIEWPORT = (1400, 1000)
MEASURE = """<script>
window.addEventListener('load', () => {
  const width = window.innerWidth;
  const images = [...document.images];
  const wide = [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > width + 1)
    .map(e => e.tagName + (e.className ? '.' + e.className : '')).slice(0, 8);
  document.body.setAttribute('data-check', JSON.stringify({
    viewport: width, scroll_width: document.documentElement.scrollWidth,
    images: images.length,
    broken: images.filter(i => !(i.complete && i.naturalWidth > 0)).length,
    wide: wide, text: document.body.innerText}));
});
</script>"""


def _measure(page: Path, tmp_path: Path) -> dict[str, Any]:
    """Load ``page`` (a copy with the measuring script) in headless Chromium; its numbers."""
    probe = tmp_path / f"probe-{page.parent.name}-{page.name}"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", MEASURE + "</body>"),
                     encoding="utf-8")
    args = [CHROMIUM or "chromium", "--headless", "--no-sandbox", "--disable-gpu",
            f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}", "--virtual-time-budget=5000"]
    dom = subprocess.run([*args, "--dump-dom", probe.as_uri()], capture_output=True,
                         text=True, timeout=120, check=True).stdout
    found = re.search(r'data-check="([^"]*)"', dom)
    assert found, "the measuring script did not run"
    shots = Path(os.environ.get("MSCSIM_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    subprocess.run([*args, f"--screenshot={shots / (page.parent.name + '.png')}",
                    page.as_uri()], capture_output=True, timeout=120, check=True)
    result: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return result


def _assert_readable(check: dict[str, Any], what: str) -> None:
    assert check["scroll_width"] <= check["viewport"], (what, check["wide"])
    assert check["wide"] == [], (what, check["wide"])
    assert check["images"] > 0 and check["broken"] == 0, (what, check["images"],
                                                          check["broken"])
    text = check["text"]
    for raw in (r"\bnan\b", r"\bNaN\b", r"\bNone\b", r"\{'", r"'\}"):
        hit = re.search(raw, text)
        assert hit is None, (what, raw, text[max(0, hit.start() - 80):hit.end() + 80])


@pytest.fixture(scope="module")
def trial_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small trial run with its power analysis, and its report."""
    root = tmp_path_factory.mktemp("browser")
    spec = tiny_spec_file(root, title="A test design of 8 patients")
    out = root / "tiny"
    main(["trial", "run", str(spec), "-o", str(out), "--engine", "serial", "--quiet"])
    main(["trial", "power", str(spec), "--replicates", "50", "-o", str(out), "--engine",
          "serial", "--quiet"])
    main(["report", str(out)])
    return out


def test_the_trial_report_fits_the_page_and_reads_cleanly(trial_folder: Path,
                                                           tmp_path: Path) -> None:
    check = _measure(trial_folder / "report.html", tmp_path)
    _assert_readable(check, "trial report")
    assert check["text"].lstrip().startswith("Virtual trial: tiny")
    assert "In short" in check["text"][:200]


def test_the_population_report_fits_the_page_and_reads_cleanly(tmp_path: Path) -> None:
    folder = tmp_path / "pop"
    main(["population", "generate", "--n", "300", "--seed", "5", "--backend", "compiled",
          "-o", str(folder), "--quiet"])
    page = tmp_path / "population" / "report.html"
    page.parent.mkdir()
    main(["population", "report", str(folder), "-o", str(page)])
    _assert_readable(_measure(page, tmp_path), "population report")
