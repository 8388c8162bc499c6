"""The committed report pages in a real browser (headless Debian ``chromium`` driven by
Playwright): ``reports/index.html`` and one study's ``summary.html`` open from disk, their titles
name what they show, no "NaN" is shown, and a screenshot of each is kept as a test artefact in
``tmp/artefacts/``. Skips where Chromium or Playwright is absent."""
import shutil

import pytest

from conftest import ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTEFACTS = ROOT / "tmp" / "artefacts"
REPORTS = ROOT / "reports"

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="Chromium not installed (apt-get install chromium)")]


@pytest.mark.parametrize("page, title", [("index.html", "committed studies"),
                                         ("kinder_gator_paper/summary.html", "kinder_gator_paper")])
def test_report_page_names_its_subject_and_shows_no_nan(page, title, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            tab = browser.new_page(viewport={"width": 1400, "height": 1000})
            tab.goto((REPORTS / page).as_uri())
            shot = ARTEFACTS / (page.replace("/", "__").replace(".html", ".png"))
            tab.screenshot(path=str(shot), full_page=True)
            assert title in tab.title(), tab.title()
            text = tab.inner_text("body")
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
    assert "NaN" not in text and "nan ±" not in text
