"""The report, its table pages and the per-sample explorer in a real browser: Debian's headless
Chromium through Selenium and Debian's ChromeDriver (``.ci/run`` installs both). Each page must
render with no console error; the explorer must draw one mark per analysed sample and show a
sample's image on hover; a table page must sort on a click; screenshots are checked non-blank.
Skipped, naming what is missing, only where the browser cannot be installed."""

from __future__ import annotations

import io
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import TINY, snakemake

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
OUT = Path("results") / TINY["experiment"]


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).is_file()]
    if missing:
        pytest.skip(
            f"no browser to test in: {missing} missing (apt-get install chromium "
            "chromium-driver, as .ci/run does)"
        )
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1600,1400"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def open_page(driver, path: Path) -> None:
    driver.get(path.resolve().as_uri())
    driver.get_log("browser")  # what an earlier page left


def console_errors(driver) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def assert_not_blank(driver, path: Path) -> None:
    """A screenshot of the page, kept beside the test's files, with content: not one colour,
    and a share of non-white pixels."""
    from PIL import Image

    driver.save_screenshot(str(path))
    pixels = np.asarray(Image.open(io.BytesIO(path.read_bytes())).convert("L"), dtype=float)
    assert pixels.std() > 10, f"{path}: a blank page (std {pixels.std():.1f})"
    assert (pixels < 200).mean() > 0.01, f"{path}: almost nothing drawn"


def wait_for(driver, script: str, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not driver.execute_script(script):
        assert time.monotonic() < end, f"timed out waiting for: {script}"
        time.sleep(0.1)


POINTS = """
const view = window.explorer, found = [];
(function walk(node) {
  if (!node) return;
  if (node.marktype && node.name === 'samples_marks') found.push(node);
  (node.items || []).forEach(walk);
})(view.scenegraph().root);
const items = found[0].items;
const [ox, oy] = view.origin(), pad = view.padding();
const box = view.container().querySelector('canvas').getBoundingClientRect();
const at = item => {
  let x = item.x, y = item.y, g = item.mark.group;
  while (g) { x += g.x || 0; y += g.y || 0; g = g.mark && g.mark.group; }
  return [x + ox + pad.left + box.left, y + oy + pad.top + box.top];
};
return {n: items.length, samples: items.map(i => i.datum.sample), points: items.map(at)};
"""


def test_the_explorer_draws_every_sample_and_shows_its_image_on_hover(study, browser, tmp_path):
    from selenium.webdriver.common.actions.action_builder import ActionBuilder

    page = study / OUT / "report" / "explorer.html"
    open_page(browser, page)
    wait_for(browser, "return document.body.dataset.ready === '1'")
    table = pd.read_parquet(study / OUT / "samples.parquet")
    analysed = table[~table.nonfinite]
    marks = browser.execute_script(POINTS)
    assert marks["n"] == len(analysed)  # one mark per analysed sample
    assert sorted(marks["samples"]) == sorted(analysed["sample"].tolist())
    hovered = None
    for x, y in marks["points"][:40]:  # a point another one does not cover
        for dx in (6, 3, 0):
            action = ActionBuilder(browser)
            action.pointer_action.move_to_location(round(x) + dx, round(y))
            action.perform()
        time.sleep(0.2)
        hovered = browser.execute_script(
            "const t = document.getElementById('vg-tooltip-element');"
            "return t && t.classList.contains('visible') ? "
            "[t.querySelectorAll('img').length, t.querySelector('img') && "
            "t.querySelector('img').src.slice(0, 21), t.innerText] : null"
        )
        if hovered:
            break
    assert hovered is not None, "no tooltip appeared over the first 40 samples"
    images, source, text = hovered
    assert images == 1 and source == "data:image/png;base64", hovered  # the embedded thumbnail
    assert "KPE" in text and "sample" in text
    assert console_errors(browser) == []
    assert_not_blank(browser, tmp_path / "explorer.png")


def test_the_report_renders_with_its_first_page_and_a_table_page_sorts(study, browser, tmp_path):
    report = tmp_path / "report.html"
    run = snakemake(study, "--cores", "1", "--report", str(report))
    assert run.returncode == 0, run.stderr[-3000:]
    open_page(browser, report)
    wait_for(browser, "return document.body.innerText.includes('Results of tiny')")
    assert "KPE and semantics" in browser.execute_script("return document.body.innerText")
    assert console_errors(browser) == []
    assert_not_blank(browser, tmp_path / "report.png")

    open_page(browser, study / OUT / "report" / "tables" / "correlations.html")
    column = pd.read_csv(study / OUT / "statistics" / "correlations.csv").columns.get_loc(
        "spearman_rho"
    )
    read = (
        "return Array.from(document.querySelectorAll('tbody tr'))"
        f".map(r => r.cells[{column}].dataset.value)"
    )

    def sorted_by_click(header) -> list[float]:
        header.click()
        values = browser.execute_script(read)
        given = [float(v) for v in values if v != ""]
        assert values[len(given) :] == [""] * (len(values) - len(given))  # missing ones last
        return given

    header = browser.find_elements("css selector", "th")[column]
    up = sorted_by_click(header)
    assert up == sorted(up) and len(set(up)) > 1
    down = sorted_by_click(header)
    assert down == sorted(up, reverse=True)
    assert console_errors(browser) == []
    assert_not_blank(browser, tmp_path / "table.png")


def test_a_figures_page_shows_the_image_with_its_caption_under_it(study, browser, tmp_path):
    open_page(browser, study / OUT / "report" / "figures" / "kpe_vs_margin.html")
    wait_for(browser, "return document.querySelector('img').complete")
    shown = browser.execute_script(
        "const img = document.querySelector('img'), cap = document.querySelector('.caption');"
        "return [img.naturalWidth, img.getBoundingClientRect().bottom,"
        " cap.getBoundingClientRect().top, cap.innerText, document.body.innerText]"
    )
    width, image_bottom, caption_top, caption, text = shown
    assert width > 100 and caption_top >= image_bottom  # the caption under the figure
    assert "KPE against the classifier margin" in caption
    assert "What this study finds" in text and "KPE and semantics" in text
    assert console_errors(browser) == []
    assert_not_blank(browser, tmp_path / "figure_page.png")
