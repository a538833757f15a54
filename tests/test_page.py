"""The report page's pieces (brain_atrophy.report.page and .svg) on small tables made here: p-value
text, region order, the per-region list of subjects faster than the reference group, the outcome,
window and warnings, and the trajectory panels' title band."""

import re
import xml.etree.ElementTree as ET
from html import unescape

import numpy as np
import pandas as pd
import pytest
from test_report import html_table

from brain_atrophy.report.page import (
    exceeding_by_region,
    in_region_order,
    p_text,
    report_page,
    window_sessions,
)
from brain_atrophy.report.svg import trajectory_svg

# The region table's order; the tables below list regions in another order, and "extra" is a
# region the region table does not list, so it must come last.
REGIONS = ["whole_brain", "thalamus", "cerebellum"]
TABLE_REGIONS = ["extra", "cerebellum", "thalamus", "whole_brain"]
GROUP_OF = {"sub-HC01": "HC", "sub-HC02": "HC", "sub-OCR01": "OCR", "sub-OCR02": "OCR"}
# (subject, region) pairs exceeding the reference group
EXCEEDING = {("sub-OCR01", "thalamus"), ("sub-OCR01", "cerebellum"), ("sub-OCR02", "thalamus")}
YEARS = [0.0, 0.5, 1.0]


def subject_effects(exceeding=EXCEEDING) -> pd.DataFrame:
    rows = []
    for subject, group in GROUP_OF.items():
        for region in TABLE_REGIONS:
            faster = (subject, region) in exceeding
            rows.append({
                "participant_id": subject, "region": region, "group": group, "n_sessions": len(YEARS),
                "followup_years": YEARS[-1], "rate_pct_per_year": -0.9 if faster else -0.3,
                "ci_low": -1.2, "ci_high": 0.1, "two_stage_rate_pct_per_year": -0.4,
                "percentile_vs_reference": 99.0 if faster else 50.0,
                # the reference group's own rows carry no comparison
                "exceeds_reference": np.nan if group == "HC" else faster,
            })  # fmt: skip
    return pd.DataFrame(rows)


def tables(exceeding=EXCEEDING) -> dict[str, pd.DataFrame]:
    volumes = pd.DataFrame(
        [
            {
                "participant_id": subject, "session_id": f"ses-{i}", "group": group, "years": t,
                "region": region, "volume_mm3": 1000.0 * (1 - 0.005 * t), "in_window": True,
                "excluded": False,
            }
            for subject, group in GROUP_OF.items()
            for region in TABLE_REGIONS
            for i, t in enumerate(YEARS)
        ]
    )  # fmt: skip
    sessions = volumes.drop_duplicates(["participant_id", "session_id"])
    qc = sessions[["participant_id", "session_id", "years"]].assign(flagged=False, flags="")
    rates = pd.DataFrame(
        [
            {"region": region, "group": group, "rate_pct_per_year": -0.25 - 0.1 * k, "ci_low": -0.4 - 0.1 * k,
             "ci_high": -0.1 - 0.1 * k, "n_subjects": 2, "n_sessions": 6}
            for k, region in enumerate(TABLE_REGIONS)
            for group in ("HC", "OCR")
        ]
    )  # fmt: skip
    # p-values either side of 0.001, one exactly at it, and one missing
    p_values = {"extra": 0.0004, "cerebellum": 0.0123, "thalamus": 0.00099, "whole_brain": 0.001}
    differences = pd.DataFrame(
        [
            {"region": region, "group": "OCR", "difference_pct_per_year": -0.1, "ci_low": -0.2,
             "ci_high": 0.0, "p_value": p, "p_fdr": min(4 * p, 1.0) if region != "cerebellum" else np.nan}
            for region, p in p_values.items()
        ]
    )  # fmt: skip
    steps = pd.DataFrame(
        [
            {"region": region, "scanner": "B", "reference_scanner": "A", "step_pct": 0.5, "ci_low": 0.1,
             "ci_high": 0.9, "p_value": p, "n_subjects_spanning": 2}
            for region, p in zip(TABLE_REGIONS, [0.2, 0.00002, 0.04, 0.0009], strict=True)
        ]
    )  # fmt: skip
    return {
        "rates_by_group": rates, "group_differences": differences,
        "subject_effects": subject_effects(exceeding), "qc": qc, "volumes": volumes, "scanner_effects": steps,
    }  # fmt: skip


def description(**extra) -> dict:
    """analysis.json as a run from before the outcome, window groups and warnings were recorded."""
    return {
        "groups": ["HC", "OCR"],
        "reference_group": "HC",
        "regions": {region: {"n_subjects": 4} for region in REGIONS},
        "window": {"start_weeks": 0, "end_weeks": None, "rebaseline": False},
    } | extra


def text_of(html: str) -> str:
    """The page's text with tags dropped and whitespace collapsed, as a reader sees it."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&lt;", "<").replace(" .", ".")


@pytest.mark.parametrize(
    "value, shown",
    [
        (0.0004, "< 0.001"),
        (np.float64(0.00099), "< 0.001"),
        (0.0, "< 0.001"),
        (0.001, "0.001"),  # not below 0.001: three decimals
        (0.01234, "0.012"),
        (0.9996, "1.000"),
        (np.nan, "n/a"),
        (None, "n/a"),
    ],
)
def test_p_values_below_one_in_a_thousand_print_as_less_than(value, shown):
    assert p_text(value) == shown


def test_regions_follow_the_region_table_and_unlisted_regions_come_last():
    frame = pd.DataFrame(
        {"region": ["extra", "cerebellum", "thalamus", "whole_brain", "thalamus"], "row": range(5)}
    )
    ordered = in_region_order(frame, REGIONS)
    assert list(ordered["region"]) == ["whole_brain", "thalamus", "thalamus", "cerebellum", "extra"]
    assert list(ordered[ordered["region"] == "thalamus"]["row"]) == [2, 4]  # a region's rows keep their order


def test_subjects_faster_than_the_reference_are_listed_by_region_with_their_other_regions():
    listed = exceeding_by_region(subject_effects(), REGIONS, sectioned={"sub-OCR01"})
    assert listed == [
        {
            "region": "thalamus",
            "count": 2,
            "subjects": [
                {"id": "sub-OCR01", "also": ["cerebellum"], "linked": True},
                {"id": "sub-OCR02", "also": [], "linked": False},
            ],
        },
        {
            "region": "cerebellum",
            "count": 1,
            "subjects": [{"id": "sub-OCR01", "also": ["thalamus"], "linked": True}],
        },
    ]
    assert exceeding_by_region(subject_effects(exceeding=set()), REGIONS, set()) == []


def test_the_page_lists_faster_subjects_by_region_with_counts_and_links():
    effects = subject_effects()
    html = report_page(tables(), description())
    shown = html_table(html, "exceeding")
    faster = effects[effects["exceeds_reference"].fillna(False).astype(bool)]
    counts = faster.groupby("region")["participant_id"].nunique()
    assert list(shown["region"]) == [r for r in REGIONS if r in counts]
    assert list(shown["n subjects"]) == [str(counts[r]) for r in shown["region"]]
    for subject in faster["participant_id"].unique():
        assert f'<a href="#{subject}">{subject}</a>' in html and f'id="{subject}"' in html
    assert "sub-OCR01 (cerebellum)" in text_of(html)  # in the thalamus row, with its other region

    nobody = report_page(tables(exceeding=set()), description())
    assert 'id="exceeding"' not in nobody
    assert "faster than the reference group (HC): none." in text_of(nobody)


def test_every_table_and_plot_follows_the_region_table():
    html = report_page(tables(), description())
    expected = [*REGIONS, "extra"]
    for table_id in ("rates", "differences", "scanner-steps", "effects-sub-HC01"):
        shown = list(dict.fromkeys(html_table(html, table_id)["region"]))
        assert shown == expected, table_id
    for subject, section in re.findall(r'<section class="subject" id="([^"]+)">(.*?)</section>', html, re.S):
        assert re.findall(r'<svg [^>]*aria-label="([^"]+)"', section) == expected, subject


def test_no_p_value_on_the_page_reads_zero():
    frames = tables()
    html = report_page(frames, description())
    differences = html_table(html, "differences").set_index("region")
    for _, row in frames["group_differences"].iterrows():
        assert differences.loc[row["region"], "p"] == p_text(row["p_value"])
        assert differences.loc[row["region"], "p (FDR)"] == p_text(row["p_fdr"])
    steps = html_table(html, "scanner-steps").set_index("region")
    assert [steps.loc[r, "p"] for r in frames["scanner_effects"]["region"]] == [
        p_text(p) for p in frames["scanner_effects"]["p_value"]
    ]
    cells = [*differences["p"], *differences["p (FDR)"], *steps["p"]]
    assert "0.000" not in cells and "< 0.001" in cells


def test_outcome_sessions_by_group_and_warnings_are_on_the_front_page():
    sessions = {
        "HC": {"n_subjects": 2, "n_sessions": 6, "weeks": [0, 24, 48]},
        "OCR": {"n_subjects": 2, "n_sessions": 4, "weeks": [24, 48]},
    }
    warnings = ["ICV drifts by 1.2 % per year in OCR.", "Only OCR is windowed: groups differ in design."]
    html = report_page(
        tables(),
        description(
            outcome="icv_fraction",
            outcome_icv_source="sessions.tsv icv",
            window={"start_weeks": 24, "end_weeks": None, "rebaseline": True, "groups": ["OCR"],
                    "sessions_by_group": sessions},
            warnings=warnings,
        ),
    )  # fmt: skip
    front = text_of(html[: html.index("<h2>")])
    assert "Outcome: region volume as a fraction of intracranial volume (ICV from sessions.tsv icv)" in front
    assert "HC: every session (2 subjects, 6 sessions; weeks 0, 24, 48)" in front
    assert "OCR: sessions from week 24 on, rebaselined (2 subjects, 4 sessions; weeks 24, 48)" in front
    for warning in warnings:
        assert f'<p class="warning">{warning}</p>' in html
    assert front.index("Study.") < front.index("Outcome:") < front.index(warnings[0])


def test_a_description_without_outcome_window_groups_or_warnings_still_renders():
    html = report_page(tables(), description())
    front = text_of(html[: html.index("<h2>")])
    assert "Outcome:" not in front and 'id="window"' not in html and 'class="warning"' not in html
    plain = report_page(tables(), description(outcome="volume"))
    assert "Outcome: region volume." in text_of(plain)


@pytest.mark.parametrize(
    "window, shown",
    [
        # every group, every session: nothing to say
        ({"start_weeks": 0, "end_weeks": None, "rebaseline": False, "groups": ["HC", "OCR"]}, []),
        ({"start_weeks": 0, "end_weeks": None, "rebaseline": False}, []),
        (
            {"start_weeks": 12, "end_weeks": 96, "rebaseline": False},
            ["HC: sessions from week 12 to week 96", "OCR: sessions from week 12 to week 96"],
        ),
        (
            {"start_weeks": 0, "end_weeks": 48.0, "rebaseline": False, "groups": ["OCR"]},
            ["HC: every session", "OCR: sessions up to week 48"],
        ),
    ],
)
def test_sessions_each_group_contributes(window, shown):
    assert window_sessions(description(window=window)) == shown


def test_trajectory_titles_have_a_band_of_their_own_above_the_axis_labels():
    points = pd.DataFrame({"years": YEARS, "volume_mm3": [1000.0, 996.0, 991.0]})
    own = pd.Series({"rate_pct_per_year": -0.9})
    group = pd.Series({"rate_pct_per_year": -0.5, "ci_low": -0.8, "ci_high": -0.2})
    svg = ET.fromstring(trajectory_svg(points, own, group, "cortical_gray_matter"))
    texts = svg.findall("text")
    (title,) = [t for t in texts if t.get("font-weight") == "bold"]
    y_labels = [t for t in texts if t.text.endswith("%")]
    top_label = min(y_labels, key=lambda t: float(t.get("y")))
    assert title.text == "cortical_gray_matter"
    gap = float(top_label.get("y")) - float(title.get("y"))
    assert gap >= max(float(title.get("font-size")), float(top_label.get("font-size")))
    # the title sits above the plot area: above the y axis's top and every point
    y_axis_top = min(
        float(line.get("y1")) for line in svg.findall("line") if line.get("x1") == line.get("x2")
    )
    assert float(title.get("y")) < y_axis_top
    assert all(float(title.get("y")) < float(c.get("cy")) - float(c.get("r")) for c in svg.findall("circle"))


JACOBIAN_TEXT = (
    "Jacobian integration of each follow-up's registration to its baseline (ANTs SyN, halfway space)"
)


def jacobian_tables(both: bool = True) -> dict[str, pd.DataFrame]:
    """tables() as a change_measure: jacobian run writes them: the volume table with the label
    counts beside the Jacobian rows (different volumes), and rates_by_measure with the label
    counts' rates beside the Jacobian ones when ``both``."""
    frames = tables()
    volumes = frames["volumes"]
    frames["volumes"] = pd.concat(
        [
            volumes.assign(method="jacobian"),
            volumes.assign(method="labels", volume_mm3=volumes["volume_mm3"] * 1.5),
        ],
        ignore_index=True,
    )
    jacobian = frames["rates_by_group"].assign(method="jacobian")
    labels = jacobian.assign(
        method="labels",
        rate_pct_per_year=jacobian["rate_pct_per_year"] - 0.05,
        ci_low=jacobian["ci_low"] - 0.2,
    )
    by_measure = pd.concat([jacobian, labels] if both else [jacobian]).sort_index(kind="stable")
    frames["rates_by_measure"] = by_measure.assign(ci_width=by_measure["ci_high"] - by_measure["ci_low"])
    return frames


def jacobian_description(both: bool = True) -> dict:
    comparison = {"measures": ["jacobian", "labels"], "reason": None}
    if not both:
        reason = "1 of 12 modelled sessions have no label image (e.g. sub-HC01 ses-2)"
        comparison = {"measures": ["jacobian"], "reason": reason}
    return description(
        change_measure="jacobian", change_measure_description=JACOBIAN_TEXT, measure_comparison=comparison
    )


def test_the_change_measure_is_on_the_front_page():
    html = report_page(jacobian_tables(), jacobian_description())
    front = unescape(text_of(html[: html.index("<h2>")]))
    assert f"Volume change measured by {JACOBIAN_TEXT}; label counting of the same sessions" in front
    assert front.index("Study.") < front.index("Volume change measured by")
    labels = report_page(tables(), description(change_measure="labels"))
    assert "Volume change measured by label counting in each session's own segmentation." in unescape(
        text_of(labels)
    )
    alone = text_of(report_page(jacobian_tables(both=False), jacobian_description(both=False)))
    assert "label counts not compared: 1 of 12 modelled sessions have no label image" in alone


def test_both_measures_rates_are_shown_side_by_side_after_the_answer():
    frames = jacobian_tables()
    html = report_page(frames, jacobian_description())
    shown = html_table(html, "rates-by-measure")
    assert list(shown.columns) == [
        "region", "group", "subjects", "rate %/yr (Jacobian integration)", "CI width (Jacobian integration)",
        "rate %/yr (label counting)", "CI width (label counting)",
    ]  # fmt: skip
    assert list(dict.fromkeys(shown["region"])) == [*REGIONS, "extra"]
    expected = frames["rates_by_measure"].set_index(["region", "group", "method"])
    for _, row in shown.iterrows():
        for method, name in (("jacobian", "Jacobian integration"), ("labels", "label counting")):
            source = expected.loc[(row["region"], row["group"], method)]
            assert row[f"rate %/yr ({name})"] == f"{source['rate_pct_per_year']:.3f}"
            assert row[f"CI width ({name})"] == f"{source['ci_width']:.3f}"
    # the answer first: the rates and differences come before the comparison
    assert html.index('id="rates"') < html.index('id="differences"') < html.index('id="rates-by-measure"')
    # one measure: no comparison table
    assert 'id="rates-by-measure"' not in report_page(
        jacobian_tables(both=False), jacobian_description(both=False)
    )
    assert 'id="rates-by-measure"' not in report_page(tables(), description())


def test_subject_plots_show_the_modelled_measures_points_only():
    html = report_page(jacobian_tables(), jacobian_description())
    for subject, section in re.findall(r'<section class="subject" id="([^"]+)">(.*?)</section>', html, re.S):
        for svg in re.findall(r"<svg .*?</svg>", section, re.S):
            assert svg.count("<circle") == len(YEARS), subject  # not the label counts' points too
