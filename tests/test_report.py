"""The report: figures, QC and methods from a real run, opened in a real headless browser."""

import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from conftest import require_or_skip, run_snakemake
from matplotlib import image as mpimg

from brain_atrophy.tables import read_frame

pytestmark = pytest.mark.slow

FIGURES = [
    "forest_rates.png", "forest_differences.png", "qc_flagged.png", "thalamus.png",
    "sub-HC01_desc-regions_qc.png",
]  # fmt: skip


@pytest.fixture(scope="module")
def report(default_run, tmp_path_factory):
    """A copy of the default run (--report writes into its directory) with its report.html."""
    run = default_run.copy(tmp_path_factory.mktemp("report") / "run")
    run_snakemake("--report", "report.html", "--configfile", "config.yaml", cwd=run.work)
    return run.work


def test_run_writes_figures_qc_and_methods(report):
    out = report / "out"
    for region in ("whole_brain", "white_matter", "cortical_gray_matter", "thalamus", "cerebellum"):
        assert (out / "figures" / "trajectories" / f"{region}.png").stat().st_size > 10_000
        assert (out / "figures" / "power" / f"{region}.png").stat().st_size > 10_000
    assert len(list(out.glob("sub-*/figures/sub-*_desc-regions_qc.png"))) == 4
    methods = (out / "group" / "methods.md").read_text()
    assert "2 HC subjects" in methods and "2 OCR subjects" in methods and "Satterthwaite" in methods
    qc = (out / "group" / "qc.tsv").read_text().splitlines()
    assert qc[0].split("\t")[:5] == ["participant_id", "session_id", "years", "flagged", "flags"]
    assert len(qc) - 1 == len(list((report / "cohort" / "derivatives" / "segmentation").glob("sub-*/ses-*")))


def test_report_embeds_every_figure_and_table(report):
    html = (report / "report.html").read_text(errors="replace")
    assert len(html) > 200_000
    for name in [*FIGURES, "qc.tsv", "methods.md", "rates_by_group.tsv"]:
        assert name in html, name


def test_report_renders_in_a_headless_browser(report, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    require_or_skip(browser is not None, "Chromium is not installed", "BRAIN_ATROPHY_REQUIRE_BROWSER")
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
        "--no-first-run", "--disable-component-update", "--disable-sync", "--window-size=1400,1000",
        "--virtual-time-budget=15000", f"--user-data-dir={tmp_path / 'profile'}",
    ]  # fmt: skip
    url = (report / "report.html").as_uri()
    shot = tmp_path / "report.png"
    subprocess.run(
        [browser, *flags, f"--screenshot={shot}", url], check=True, capture_output=True, timeout=120
    )
    pixels = mpimg.imread(shot)[..., :3]
    assert pixels.shape[0] >= 900 and pixels.shape[1] >= 1300
    assert pixels.std() > 0.05  # not a blank page
    assert np.mean(pixels.mean(axis=-1) < 0.9) > 0.01  # text and figures drawn on it
    dom = subprocess.run(
        [browser, *flags, "--dump-dom", url], check=True, capture_output=True, text=True, timeout=120
    ).stdout
    for text in ("Trajectories", "Quality control", "QC mosaics", "Methods", "Rates"):
        assert text in dom, text  # the report's own script rendered our categories


class TableReader(HTMLParser):
    """The cells of the table with a given id, as the browser's DOM has them."""

    def __init__(self, table_id):
        super().__init__()
        self.table_id, self.inside, self.rows, self.cell = table_id, False, [], None

    def handle_starttag(self, tag, attrs):
        if tag == "table" and dict(attrs).get("id") == self.table_id:
            self.inside = True
        elif self.inside and tag == "tr":
            self.rows.append([])
        elif self.inside and tag in ("td", "th"):
            self.cell = ""

    def handle_endtag(self, tag):
        if tag == "table":
            self.inside = False
        elif self.inside and tag in ("td", "th"):
            self.rows[-1].append(self.cell)
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


def html_table(dom: str, table_id: str) -> pd.DataFrame:
    reader = TableReader(table_id)
    reader.feed(dom)
    header, *rows = reader.rows
    return pd.DataFrame(rows, columns=header)


def test_the_report_page_opens_on_the_answer_in_a_headless_browser(report, tmp_path):
    """output_dir/report.html: its front shows the rates table, with the numbers of
    rates_by_group.tsv, the differences, the study's size and the subjects' sections."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    require_or_skip(browser is not None, "Chromium is not installed", "BRAIN_ATROPHY_REQUIRE_BROWSER")
    page = report / "out" / "report.html"
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
        "--no-first-run", "--disable-component-update", "--disable-sync", "--window-size=1200,900",
        "--virtual-time-budget=5000", f"--user-data-dir={tmp_path / 'profile'}",
    ]  # fmt: skip
    dom = subprocess.run(
        [browser, *flags, "--dump-dom", page.as_uri()],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    shown = html_table(dom, "rates")
    rates = read_frame(report / "out" / "group" / "rates_by_group.tsv")
    assert list(shown["region"]) == list(rates["region"]) and list(shown["group"]) == list(rates["group"])
    assert list(shown["rate %/yr"]) == [f"{v:.2f}" for v in rates["rate_pct_per_year"]]
    assert list(shown["CI low"]) == [f"{v:.2f}" for v in rates["ci_low"]]
    assert list(shown["CI high"]) == [f"{v:.2f}" for v in rates["ci_high"]]
    assert dom.index('id="rates"') < dom.index('class="subject"')  # the answer comes first
    assert 'id="differences"' in dom and "4 subjects" in dom and "sessions flagged" in dom
    assert dom.count('class="subject"') == 4 and dom.count("<svg") == 4 * 5
    shot = tmp_path / "front.png"
    subprocess.run(
        [browser, *flags, f"--screenshot={shot}", page.as_uri()], check=True, capture_output=True, timeout=120
    )
    pixels = mpimg.imread(shot)[..., :3]
    assert np.mean(pixels.mean(axis=-1) < 0.9) > 0.02  # the first screen holds text and tables
