"""The report: figures, QC and methods from a real run, opened in a real headless browser."""

import html
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from conftest import cohort_config, require_or_skip, run_snakemake, study_window
from matplotlib import image as mpimg

from brain_atrophy.tables import read_frame
from brain_atrophy_demo import demo

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


FRONT_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
    "--no-first-run", "--disable-component-update", "--disable-sync", "--window-size=1200,900",
    "--virtual-time-budget=5000",
]  # fmt: skip


def dump_dom(page, profile) -> tuple[str, list[str]]:
    """``page``'s DOM as headless Chromium has it, and the browser's command line."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    require_or_skip(browser is not None, "Chromium is not installed", "BRAIN_ATROPHY_REQUIRE_BROWSER")
    command = [browser, *FRONT_FLAGS, f"--user-data-dir={profile}"]
    dom = subprocess.run(
        [*command, "--dump-dom", page.as_uri()], check=True, capture_output=True, text=True, timeout=120
    ).stdout
    return dom, command


@pytest.fixture(scope="module")
def front_page(report, tmp_path_factory):
    """output_dir/report.html's DOM as headless Chromium has it, and the browser's command line."""
    return dump_dom(report / "out" / "report.html", tmp_path_factory.mktemp("profile"))


@pytest.fixture(scope="module", params=["default run", "study run"])
def shown(request, report, front_page, atlas_path, tmp_path_factory):
    """(run directory, DOM) of the default run's page, and of a study like the model study's
    (16 subjects a group, the treated groups from week 24), whose differences reach p < 0.001
    and whose subjects exceed the reference group."""
    if request.param == "default run":
        return report, front_page[0]
    work = tmp_path_factory.mktemp("study-report")
    cohort = work / "cohort"
    demo.build_demo(cohort, atlas_path, {"HC": 16, "OCR": 16, "IFN": 16}, seed=3)
    run_snakemake(*cohort_config(cohort, work / "out", window=study_window(cohort)), cwd=work)
    return work, dump_dom(work / "out" / "report.html", tmp_path_factory.mktemp("profile"))[0]


def p_shown(p) -> str:
    """A p-value as the page must print it: below 0.001 as '< 0.001', never 0.000."""
    return "n/a" if pd.isna(p) else "< 0.001" if p < 0.001 else f"{p:.3f}"


def test_the_report_page_opens_on_the_answer_in_a_headless_browser(report, front_page, tmp_path):
    """output_dir/report.html: its front shows the rates and differences tables, the study's size,
    and the subjects' sections after them."""
    dom, command = front_page
    assert dom.index('id="rates"') < dom.index('class="subject"')  # the answer comes first
    assert 'id="differences"' in dom and "4 subjects" in dom and "sessions flagged" in dom
    assert dom.count('class="subject"') == 4 and dom.count("<svg") == 4 * 5
    shot = tmp_path / "front.png"
    page = report / "out" / "report.html"
    subprocess.run(
        [*command, f"--screenshot={shot}", page.as_uri()], check=True, capture_output=True, timeout=120
    )
    pixels = mpimg.imread(shot)[..., :3]
    assert np.mean(pixels.mean(axis=-1) < 0.9) > 0.02  # the first screen holds text and tables


def test_the_front_page_numbers_equal_the_tables_in_the_region_tables_order(shown):
    """Rates, differences, their CIs and p-values as the page rounds them, regions in analysis.json's
    order; no p-value reads 0.000, one below 0.001 reads '< 0.001'."""
    report, dom = shown
    group = report / "out" / "group"
    regions = list(json.loads((group / "analysis.json").read_text())["regions"])
    for table_id, name, value_column, digits in (
        ("rates", "rates_by_group", "rate %/yr", 2),
        ("differences", "group_differences", "difference %/yr", 3),
    ):
        shown, table = html_table(dom, table_id), read_frame(group / f"{name}.tsv")
        unlisted = [r for r in dict.fromkeys(table["region"]) if r not in regions]
        assert (
            list(dict.fromkeys(shown["region"]))
            == [r for r in regions if r in set(table["region"])] + unlisted
        )
        assert sorted(zip(shown["region"], shown["group"], strict=True)) == sorted(
            zip(table["region"], table["group"], strict=True)
        )
        shown = shown.set_index(["region", "group"])
        for _, row in table.iterrows():
            cells = shown.loc[(row["region"], row["group"])]
            value = row["rate_pct_per_year" if name == "rates_by_group" else "difference_pct_per_year"]
            assert cells[value_column] == f"{value:.{digits}f}"
            assert cells["CI low"] == f"{row['ci_low']:.{digits}f}"
            assert cells["CI high"] == f"{row['ci_high']:.{digits}f}"
            if name == "group_differences":
                assert cells["p"] == p_shown(row["p_value"]) and cells["p (FDR)"] == p_shown(row["p_fdr"])
                assert "0.000" not in (cells["p"], cells["p (FDR)"])
    if 'id="scanner-steps"' in dom:
        steps = read_frame(group / "scanner_effects.tsv")
        assert sorted(html_table(dom, "scanner-steps")["p"]) == sorted(map(p_shown, steps["p_value"]))
    # each subject's rows and plots, too
    sections = re.findall(r'<section class="subject" id="([^"]+)">(.*?)</section>', dom, re.S)
    assert sections
    for subject, section in sections:
        shown = list(html_table(dom, f"effects-{subject}")["region"])
        assert shown == [r for r in regions if r in shown] + [r for r in shown if r not in regions]
        assert re.findall(r'<svg [^>]*aria-label="([^"]+)"', section) == shown, subject


def test_the_front_page_lists_the_faster_subjects_by_region(shown):
    """The per-region list of subjects faster than the reference group: its counts are
    subject_effects.tsv's, regions in the region table's order, subjects linked to their sections."""
    report, dom = shown
    group = report / "out" / "group"
    description = json.loads((group / "analysis.json").read_text())
    effects = read_frame(group / "subject_effects.tsv")
    faster = effects[effects["exceeds_reference"].fillna(False).astype(bool)]
    counts = faster.groupby("region")["participant_id"].nunique()
    if counts.empty:
        assert 'id="exceeding"' not in dom
        heading = f"faster than the reference group</b> ({description['reference_group']}): none"
        assert heading in re.sub(r"\s+", " ", dom)
        return
    shown = html_table(dom, "exceeding")
    assert list(shown["region"]) == [r for r in description["regions"] if r in counts.index]
    assert list(shown["n subjects"]) == [str(counts[r]) for r in shown["region"]]
    for subject in faster["participant_id"].unique():
        assert f'href="#{subject}"' in dom and f'id="{subject}"' in dom


def test_the_front_page_says_the_outcome_and_shows_the_warnings(shown):
    """What analysis.json says was modelled, and each of its warnings, on the front page."""
    report, dom = shown
    description = json.loads((report / "out" / "group" / "analysis.json").read_text())
    front = dom[: dom.index('id="rates"')]
    assert ("Outcome:</b> region volume." in front) == (description.get("outcome") == "volume")
    assert ("fraction of intracranial volume" in front) == (description.get("outcome") == "icv_fraction")
    for warning in description.get("warnings") or []:
        assert html.escape(warning, quote=False) in front
    assert front.count('class="warning"') >= len(description.get("warnings") or [])


def test_the_study_page_shows_small_p_values_and_faster_subjects(shown):
    """The study run exercises what the default run cannot: p-values below 0.001 read
    '< 0.001' in the browser, and the per-region list of faster subjects is there."""
    report, dom = shown
    group = report / "out" / "group"
    differences = read_frame(group / "group_differences.tsv")
    effects = read_frame(group / "subject_effects.tsv")
    if report.name.startswith("study-report"):
        assert (differences["p_value"] < 0.001).any()
        assert effects["exceeds_reference"].fillna(False).astype(bool).any()
    small = (differences["p_value"] < 0.001).sum() + (differences["p_fdr"] < 0.001).sum()
    assert list(html_table(dom, "differences")[["p", "p (FDR)"]].to_numpy().ravel()).count("< 0.001") == small


def test_the_methods_paragraph_states_the_window_and_its_groups(shown):
    """Which scans each group contributed, as analysis.json records the window."""
    report, _ = shown
    group = report / "out" / "group"
    window = json.loads((group / "analysis.json").read_text())["window"]
    groups = json.loads((group / "analysis.json").read_text())["groups"]
    methods = " ".join((group / "methods.md").read_text().split())
    windowed, others = window["groups"], [g for g in groups if g not in window["groups"]]
    if not window["start_weeks"]:
        assert "All scans were analysed." in methods
    elif others:
        listed = ", ".join(windowed[:-1]) + " and " + windowed[-1] if len(windowed) > 1 else windowed[0]
        assert f"For {listed}, scans from week {window['start_weeks']:g} on study were analysed" in methods
        assert f"for {', '.join(others)}, every scan" in methods
