"""Reports rendered in a real browser (issue #15): headless Chromium (Debian's ``chromium``,
installed by ``scripts/test.sh``) loads each page, and a script measures it after load.

Checked for the trial report (one run with its power analysis, the page a designer reads),
the population report and the evidence figures (forest, forest by subgroup, funnel,
cumulative: SVG from ``mscsim evidence``, inline on one page): no element reaches past the
1,400-pixel viewport, every image loaded, no "nan", "None" or raw Python dictionary in the
text. Inside each SVG figure the script measures every text, legend and plot area: no text
over another or past the figure's edge, no legend or text (Egger's test) in a plot area.
A screenshot of each page is written to ``$MSCSIM_SCREENSHOTS`` (default: the test's
temporary folder) for a person to look at.
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
    wide: wide, text: document.body.innerText, figures: figures()}));
});
// inline SVG figures written by matplotlib: each text (its string is the comment matplotlib
// writes beside its glyphs), each legend and each drawn plot area (an axes' first patch)
const box = e => {
  const r = e.getBoundingClientRect();
  return [r.left, r.top, r.right, r.bottom];
};
const figures = () => [...document.querySelectorAll('svg')].map(svg => ({
  name: svg.getAttribute('data-name') || '', box: box(svg),
  texts: [...svg.querySelectorAll('g[id^="text_"]')].map(g => ({box: box(g),
    text: [...g.childNodes].filter(n => n.nodeType === Node.COMMENT_NODE)
      .map(n => n.data.trim()).join(' / ')})),
  legends: [...svg.querySelectorAll('g[id^="legend_"]')].map(box),
  plot_areas: [...svg.querySelectorAll('g[id^="axes_"] > g[id^="patch_"]:first-child')]
    .map(box)}));
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
    assert check["images"] + len(check["figures"]) > 0 and check["broken"] == 0, (
        what, check["images"], check["broken"])
    text = "\n".join([check["text"], *(t["text"] for f in check["figures"]
                                       for t in f["texts"])])
    for raw in (r"\bnan\b", r"\bNaN\b", r"\bNone\b", r"\{'", r"'\}"):
        hit = re.search(raw, text)
        assert hit is None, (what, raw, text[max(0, hit.start() - 80):hit.end() + 80])


Box = list[float]     # left, top, right, bottom in CSS pixels


def _overlap(a: Box, b: Box, margin: float = 0.5) -> bool:
    return (min(a[2], b[2]) - max(a[0], b[0]) > margin
            and min(a[3], b[3]) - max(a[1], b[1]) > margin)


def _figure_problems(figure: dict[str, Any]) -> list[str]:
    """What a reader would see as broken in a measured SVG figure: texts over each other or
    cut off at its edge, a legend or a text (other than tick labels, which sit outside)
    inside a plot area."""
    texts = [t for t in figure["texts"] if t["box"][2] > t["box"][0] and t["text"]]
    problems = [f"{t['text']!r} over {u['text']!r}" for i, t in enumerate(texts)
                for u in texts[i + 1:] if _overlap(t["box"], u["box"])]
    edge = figure["box"]
    problems += [f"{t['text']!r} past the figure's edge" for t in texts
                 if t["box"][0] < edge[0] - 1 or t["box"][1] < edge[1] - 1
                 or t["box"][2] > edge[2] + 1 or t["box"][3] > edge[3] + 1]
    for area in figure["plot_areas"]:
        problems += ["a legend over the plot area" for legend in figure["legends"]
                     if _overlap(legend, area)]
        problems += [f"{t['text']!r} in the plot area" for t in texts
                     if _overlap(t["box"], area)]
    return problems


def test_the_figure_check_sees_overlaps() -> None:
    """The geometry rules on hand-made boxes: the check can fail."""
    area = [100.0, 0.0, 400.0, 300.0]
    figure = {"box": [0.0, 0.0, 600.0, 400.0], "plot_areas": [area],
              "legends": [[380.0, 250.0, 500.0, 290.0]],
              "texts": [{"text": "Egger's test", "box": [300.0, 100.0, 380.0, 110.0]},
                        {"text": "0.5", "box": [90.0, 305.0, 110.0, 315.0]},
                        {"text": "0.51", "box": [105.0, 308.0, 125.0, 318.0]},
                        {"text": "cut", "box": [590.0, 390.0, 620.0, 400.0]}]}
    assert _figure_problems(figure) == [
        "'0.5' over '0.51'", "'cut' past the figure's edge", "a legend over the plot area",
        '"Egger\'s test" in the plot area']


@pytest.fixture(scope="module")
def trial_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small trial run with its power analysis, and its report; linked to a published
    study so the page shows the published result beside the virtual one."""
    root = tmp_path_factory.mktemp("browser")
    spec = tiny_spec_file(root, title="A test design of 8 patients",
                          evidence_study="Monsel2022")
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
    published = check["text"].index("Published versus this virtual trial")
    assert published < check["text"].index("Flow of patients")   # read before the details
    assert "Published (Monsel 2022): deaths by day 28" in check["text"]


def test_the_population_report_fits_the_page_and_reads_cleanly(tmp_path: Path) -> None:
    folder = tmp_path / "pop"
    main(["population", "generate", "--n", "300", "--seed", "5", "--backend", "compiled",
          "-o", str(folder), "--quiet"])
    page = tmp_path / "population" / "report.html"
    page.parent.mkdir()
    main(["population", "report", str(folder), "-o", str(page)])
    _assert_readable(_measure(page, tmp_path), "population report")


#: the evidence figures a reader meets, as ``mscsim evidence`` writes them
EVIDENCE_FIGURES = {"forest": ["forest"], "forest-by-design": ["forest", "--subgroup", "design"],
                    "funnel": ["funnel"], "cumulative": ["cumulative"]}


def _evidence_page(folder: Path) -> Path:
    """The evidence figures written as SVG by the CLI, inline on one page (the evidence part
    has no HTML report of its own), so that the page's script can measure inside them."""
    folder.mkdir()
    sections = []
    for name, command in EVIDENCE_FIGURES.items():
        figure = folder / f"{name}.svg"
        main(["evidence", *command, "-o", str(figure)])
        svg = figure.read_text(encoding="utf-8")
        svg = svg[svg.index("<svg"):].replace("<svg", f"<svg data-name='{name}'", 1)
        sections.append(f"<h2>{name}</h2>{svg}")
    page = folder / "figures.html"
    page.write_text("<!doctype html><html><head><meta charset='utf-8'><title>evidence "
                    "figures</title><style>body{font-family:sans-serif;max-width:1250px;"
                    "margin:2em auto}svg{max-width:100%;height:auto}</style></head><body>"
                    + "".join(sections) + "</body></html>", encoding="utf-8")
    return page


def test_the_evidence_figures_read_cleanly_in_the_browser(tmp_path: Path, capsys) -> None:
    """Forest (overall and by subgroup), funnel and cumulative plots: nothing past the page,
    no nan, no text over another, no legend or test result (Egger's) in a plot area."""
    check = _measure(_evidence_page(tmp_path / "evidence"), tmp_path)
    capsys.readouterr()
    _assert_readable(check, "evidence figures")
    figures = {f["name"]: f for f in check["figures"]}
    assert list(figures) == list(EVIDENCE_FIGURES)
    for name, figure in figures.items():
        assert len(figure["texts"]) > 20, name          # the measure saw the figure's texts
        assert _figure_problems(figure) == [], name
    funnel = figures["funnel"]
    assert len(funnel["legends"]) == 1 and len(funnel["plot_areas"]) == 1
    egger = [t for t in funnel["texts"] if "Egger's test" in t["text"]]
    assert len(egger) == 1 and egger[0]["box"][0] > funnel["plot_areas"][0][2]
