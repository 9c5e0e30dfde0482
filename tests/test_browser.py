"""The HTML report opened in headless Chromium: it loads nothing, breaks no rule of its CSP,
and shows its headline, its warnings and every chart.

CI installs Chromium (`.ci/run`), so there the test runs; elsewhere it skips when no
Chromium is found. Playwright drives the browser; its `request` events come from the page
only, so the browser's own background traffic (updates, time sync) is not counted.
"""

from __future__ import annotations

import io
import os
import re
import shutil

import numpy as np
import pytest
from matplotlib import image

from tests.test_cli import ROOT, cli

BROWSER_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def _chromium() -> str:
    found = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome", "chrome")) if p), None)
    if found is None:
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail("Chromium is not installed: .ci/run installs it (apt-get install chromium)")
        pytest.skip("Chromium is not installed")
    return found


@pytest.mark.slow
def test_sample_report_in_headless_chromium(tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    browser_path = _chromium()
    done = cli("scan", str(ROOT / "sample_data"), "--out", str(tmp_path / "demo"), "--by", "source",
               "--fail-on", "synthetic_fraction>0.5")
    assert done.returncode == 1, done.stderr  # the rule is broken: the demo is shifted, its interval reaches 100%
    report = (tmp_path / "demo" / "report.html").as_uri()
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, args=BROWSER_FLAGS)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        requests, problems = [], []
        page.on("request", lambda r: requests.append(r.url))
        page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(report)
        page.wait_for_load_state("load")
        headline = page.inner_text(".headline")
        warnings = page.locator("#warnings li").all_inner_texts()
        sections = page.locator("h2").all_inner_texts()
        charts = {c.get_attribute("data-chart") for c in page.locator("figure.chart").all()}
        chart_sizes = [svg.bounding_box() for svg in page.locator("figure.chart svg").all()]
        shot = page.screenshot(full_page=True)
        browser.close()
    assert requests == [report]  # the page itself and nothing else: no font, image, script or beacon
    assert problems == []  # no console error, no CSP violation, no script error
    assert re.match(r"\d+\.\d% machine-written", headline) and "interval 0.0% to 100.0%" in headline
    assert warnings and warnings[0].startswith("Calibration shifted")
    assert {"Input", "Gate", "Synthetic fraction", "By source", "Near-duplicates", "Repetition",
            "Collapse projection"} <= set(sections)
    assert charts == {"length", "scores", "methods", "strata", "clusters", "repetition", "projection"}
    assert all(box is not None and box["width"] > 100 and box["height"] > 50 for box in chart_sizes)
    pixels = image.imread(io.BytesIO(shot), format="png")[..., :3]
    assert pixels.shape[1] == 1100 and pixels.shape[0] > 2000
    ink = (pixels < 0.9).any(axis=2).mean()  # share of pixels that are not white-ish
    assert 0.02 < ink < 0.5 and len(np.unique((pixels[::7, ::7] * 255).astype(np.uint8).reshape(-1, 3), axis=0)) > 20
