"""change_measure (label counting or Jacobian integration): the group step models the chosen
measure's rows only, sets the label counts of the same sessions beside Jacobian integration's
(rates_by_measure.tsv), says which measure it used (analysis.json, methods), and keeps the ICV
logic on the chosen rows. The cohort is simulated with planted differences between the two
measures and run through the group step's own entry (stats.analysis.analyse) from the files a
run reads."""

import json
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from brain_atrophy.errors import InputError
from brain_atrophy.paths import subject_label
from brain_atrophy.report.methods import methods_text
from brain_atrophy.stats.analysis import VOLUME_TABLE_COLUMNS, analyse
from brain_atrophy.stats.columns import CHANGE_MEASURES, measure_rows, modelled_measure, with_method
from brain_atrophy.stats.group import Settings
from brain_atrophy.tables import read_frame
from brain_atrophy_demo.simulate import simulate_volumes

REGIONS = ["brain", "thalamus"]
# Planted: the Jacobian volumes shrink 0.5 %/yr (on the 100·ln scale) faster than the label
# counts, and their labelled volume (the ICV estimate) 0.2 %/yr, which the label counts' does not.
JACOBIAN_EXTRA = -0.5
JACOBIAN_ICV_DRIFT = -0.2
ICV = 1.4e6
START = datetime(2020, 1, 6)
SUBJECT_COLUMNS = [
    "participant_id", "session_id", "region", "method", "volume_mm3", "n_voxels", "labelled_mm3", "voxel_mm3",
]  # fmt: skip


def measured(volumes: pd.DataFrame, seed: int = 5) -> pd.DataFrame:
    """The simulated label counts of two regions, and the Jacobian rows beside them, as the
    subjects' volume tables hold them (``volumes``: simulate_volumes' rows, one region)."""
    rng = np.random.default_rng(seed)
    labels = pd.concat(
        [
            volumes.assign(region=r, volume_mm3=volumes["volume_mm3"] * (1 + k / 9))
            for k, r in enumerate(REGIONS)
        ],
        ignore_index=True,
    ).assign(voxel_mm3=1.0)
    subjects = volumes["participant_id"].unique()
    head = pd.Series(ICV * np.exp(rng.normal(0, 0.05, len(subjects))), index=subjects)  # each one's ICV
    labels["labelled_mm3"] = labels["participant_id"].map(head)
    labels["n_voxels"] = labels["volume_mm3"].round().astype(int)
    years = labels["years"]
    icv_noise = pd.Series(rng.normal(0, 0.05, len(volumes)), index=volumes.index)
    icv_noise = pd.concat([icv_noise] * len(REGIONS), ignore_index=True)  # one per session
    jacobian = labels.assign(
        method="jacobian",
        volume_mm3=labels["volume_mm3"] * np.exp(JACOBIAN_EXTRA * years / 100),
        labelled_mm3=labels["labelled_mm3"]
        * np.exp((JACOBIAN_ICV_DRIFT * years + icv_noise.where(years > 0, 0.0)) / 100),
    )
    return pd.concat([labels, jacobian], ignore_index=True)


@pytest.fixture(scope="module")
def cohort():
    volumes, participants = simulate_volumes(17, n_per_group=(14, 14, 0), drop=0.0)
    return measured(volumes), participants


def write_cohort(folder, rows: pd.DataFrame, participants: pd.DataFrame):
    """participants.tsv, one volume table per subject and a sessions.tsv with each session's
    acq_time (from its years); returns analyse's file arguments."""
    folder.mkdir(parents=True, exist_ok=True)
    participants.reset_index()[["participant_id", "group"]].to_csv(
        folder / "participants.tsv", sep="\t", index=False
    )
    tables, sources = [], {}
    for subject, subject_rows in rows.groupby("participant_id"):
        table = folder / f"{subject}_volumes.tsv"
        subject_rows[SUBJECT_COLUMNS].to_csv(table, sep="\t", index=False, float_format="%.17g")
        tables.append(table)
        sessions = subject_rows.drop_duplicates("session_id")
        acq_time = [
            (START + timedelta(days=365.25 * y)).isoformat(timespec="seconds") for y in sessions["years"]
        ]
        sessions_tsv = folder / f"{subject}_sessions.tsv"
        pd.DataFrame({"session_id": sessions["session_id"], "acq_time": acq_time}).to_csv(
            sessions_tsv, sep="\t", index=False
        )
        sources[subject_label(subject)] = {"sessions_tsv": sessions_tsv, "scans": {}, "source_t1w": {}}
    return {
        "volume_tables": tables,
        "participants_path": folder / "participants.tsv",
        "session_sources": sources,
        "bids_dir": folder,
    }


def run(folder, rows, participants, **settings):
    return analyse(
        regions=REGIONS, settings=Settings("HC", **settings), **write_cohort(folder, rows, participants)
    )


@pytest.fixture(scope="module")
def runs(cohort, tmp_path_factory):
    """The group step on the same subjects' tables: both measures' rows, by each measure, and the
    label counts alone."""
    rows, participants = cohort
    folder = tmp_path_factory.mktemp("cohort")
    return {
        "labels": run(folder / "both", rows, participants),
        "jacobian": run(folder / "both", rows, participants, change_measure="jacobian"),
        "labels only": run(folder / "labels", rows[rows["method"] == "labels"], participants),
    }


def rates(tables) -> pd.DataFrame:
    return tables["rates_by_group"].set_index(["region", "group"])


def test_each_measure_models_only_its_own_rows(runs):
    labels, jacobian, alone = (rates(runs[k]) for k in ("labels", "jacobian", "labels only"))
    # the label counts beside the Jacobian rows change nothing in labels mode
    pd.testing.assert_frame_equal(labels, alone)
    # Jacobian mode: the planted extra loss, exactly (a shift of y by a term of the fixed effects)
    np.testing.assert_allclose(jacobian["slope"], labels["slope"] + JACOBIAN_EXTRA, atol=1e-4)
    assert (jacobian["n_sessions"] == labels["n_sessions"]).all()  # every session counted once
    for name in ("subject_rates", "subject_effects", "power", "group_differences"):
        assert len(runs["jacobian"][name]) == len(runs["labels"][name]), name


def test_the_group_volume_table_keeps_both_measures_with_their_method(runs, cohort):
    volumes = runs["jacobian"]["volumes"]
    assert list(volumes.columns) == VOLUME_TABLE_COLUMNS
    assert VOLUME_TABLE_COLUMNS.index("method") == VOLUME_TABLE_COLUMNS.index("region") + 1
    assert volumes["method"].value_counts().to_dict() == cohort[0]["method"].value_counts().to_dict()
    assert volumes["in_window"].all()  # a session in the window is, whichever measure
    assert (
        modelled_measure(volumes) == "jacobian"
        and modelled_measure(runs["labels only"]["volumes"]) == "labels"
    )
    assert len(measure_rows(volumes)) == len(volumes) // 2


def test_rates_by_measure_sets_label_counts_beside_jacobian_integration(runs):
    table = runs["jacobian"]["rates_by_measure"]
    assert list(table.columns) == [
        "group", "region", "method", "rate_pct_per_year", "ci_low", "ci_high", "ci_width", "n_subjects",
    ]  # fmt: skip
    assert list(table["method"]) == ["jacobian", "labels"] * (len(REGIONS) * 2)  # side by side
    assert runs["jacobian"]["description"]["measure_comparison"] == {
        "measures": ["jacobian", "labels"],
        "reason": None,
    }
    by_method = {method: rows.set_index(["region", "group"]) for method, rows in table.groupby("method")}
    for method, tables in (("jacobian", runs["jacobian"]), ("labels", runs["labels"])):
        expected = rates(tables)
        mine = by_method[method].loc[expected.index]
        np.testing.assert_allclose(mine["rate_pct_per_year"], expected["rate_pct_per_year"], rtol=1e-6)
        np.testing.assert_allclose(mine["ci_width"], expected["ci_high"] - expected["ci_low"], rtol=1e-6)
        assert (mine["n_subjects"] == expected["n_subjects"]).all()


def test_rates_by_measure_holds_the_one_measure_in_labels_mode(runs):
    table = runs["labels"]["rates_by_measure"]
    assert set(table["method"]) == {"labels"} and len(table) == len(runs["labels"]["rates_by_group"])
    assert runs["labels"]["description"]["measure_comparison"] == {"measures": ["labels"], "reason": None}


def test_label_counts_are_not_compared_unless_every_modelled_session_has_them(cohort, tmp_path):
    rows, participants = cohort
    follow_up = rows[(rows["method"] == "labels") & (rows["years"] > 0)].iloc[0]
    lacking = (rows["participant_id"] == follow_up["participant_id"]) & (
        rows["session_id"] == follow_up["session_id"]
    )
    tables = run(
        tmp_path, rows[~(lacking & (rows["method"] == "labels"))], participants, change_measure="jacobian"
    )
    assert set(tables["rates_by_measure"]["method"]) == {"jacobian"}
    comparison = tables["description"]["measure_comparison"]
    assert comparison["measures"] == ["jacobian"]
    assert (
        f"1 of {rows[['participant_id', 'session_id']].drop_duplicates().shape[0]} modelled sessions"
        in (comparison["reason"])
    )
    assert follow_up["session_id"] in comparison["reason"]


def test_analysis_json_and_the_methods_say_which_measure(runs):
    for measure in ("labels", "jacobian"):
        description = json.loads(json.dumps(runs[measure]["description"], allow_nan=False))
        assert description["change_measure"] == measure
        assert description["change_measure_description"] == CHANGE_MEASURES[measure]
        text = methods_text(
            description,
            runs[measure]["rates_by_group"],
            {"brain": (10, 49), "thalamus": (11,)},
            {k: "1.0" for k in ("brain-atrophy", "snakemake", "python", "nibabel", "numpy", "scipy", "pandas",
                                "statsmodels", "antspyx")},
        )  # fmt: skip
        jacobian = measure == "jacobian"
        assert ("Jacobian integration" in text) == jacobian
        assert ("ANTs SyN" in text and "ANTsPy 1.0" in text) == jacobian
        assert ("group/rates_by_measure.tsv" in text) == jacobian
    assert "Jacobian integration" in CHANGE_MEASURES["jacobian"] and "halfway" in CHANGE_MEASURES["jacobian"]


def test_the_icv_drift_check_reads_the_chosen_measures_labelled_volume(runs):
    # label counts: each subject's labelled volume the same at every session, no drift; Jacobian
    # rows: the planted one
    assert runs["labels"]["description"]["icv_drift"]["slope_pct_per_year"] == 0.0
    drift = runs["jacobian"]["description"]["icv_drift"]
    assert drift["slope_pct_per_year"] == pytest.approx(JACOBIAN_ICV_DRIFT, abs=0.03) and drift["drifts"]
    assert (
        drift["n_sessions"]
        == runs["jacobian"]["volumes"][["participant_id", "session_id"]].drop_duplicates().shape[0]
    )


def test_icv_fractions_of_jacobian_rows_divide_by_their_own_labelled_volume(cohort, runs, tmp_path):
    rows, participants = cohort
    tables = run(tmp_path, rows, participants, change_measure="jacobian", outcome="icv_fraction")
    volumes = tables["volumes"]
    np.testing.assert_allclose(volumes["icv_fraction"], volumes["volume_mm3"] / volumes["labelled_mm3"])
    # the planted drift of the Jacobian rows' labelled volume leaves their fractions
    expected = rates(runs["labels"])["slope"] + JACOBIAN_EXTRA - JACOBIAN_ICV_DRIFT
    np.testing.assert_allclose(rates(tables)["slope"], expected, atol=0.05)


def test_the_icv_covariate_is_the_chosen_measures_baseline(cohort, tmp_path):
    rows, participants = cohort
    tables = run(tmp_path, rows, participants, change_measure="jacobian", covariates=("icv",))
    assert tables["description"]["icv_source"] == "labelled volume of each subject's first label image"
    baseline = rows[(rows["years"] == 0) & (rows["method"] == "jacobian")].drop_duplicates("participant_id")
    assert tables["description"]["covariate_reference_values"]["icv"] == pytest.approx(
        baseline["labelled_mm3"].mean()
    )


def test_tables_of_another_measure_are_refused(cohort, tmp_path):
    rows, participants = cohort
    with pytest.raises(InputError, match="no 'jacobian' volumes"):
        run(tmp_path, rows[rows["method"] == "labels"], participants, change_measure="jacobian")


def test_a_table_without_a_method_column_counted_labels(tmp_path):
    frame = pd.DataFrame({"participant_id": ["sub-1"], "region": ["brain"], "volume_mm3": [1.0]})
    assert list(with_method(frame).columns) == ["participant_id", "region", "method", "volume_mm3"]
    assert with_method(frame)["method"].tolist() == ["labels"]
    assert measure_rows(frame, "labels") is frame and measure_rows(frame, "jacobian").empty


def test_the_group_volume_table_reads_back(runs, tmp_path):
    from brain_atrophy.tables import write_frame

    write_frame(runs["jacobian"]["volumes"], tmp_path / "volumes.tsv")
    back = read_frame(tmp_path / "volumes.tsv")
    assert modelled_measure(back) == "jacobian" and set(back["method"]) == {"labels", "jacobian"}
