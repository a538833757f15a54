"""The output layout and BIDS names, built in one place."""

import fnmatch
import os

from brain_atrophy import paths


def test_bids_names_in_raw_and_derivative_datasets():
    assert paths.anat_file("/d", "01", "w0", "dseg", ".nii.gz") == os.path.join(
        "/d", "sub-01", "ses-w0", "anat", "sub-01_ses-w0_dseg.nii.gz"
    )
    assert paths.anat_file("/d", "01", "w0", "T1w", ".json", run="2").endswith("sub-01_ses-w0_run-2_T1w.json")
    assert paths.sessions_table("/b", "01") == os.path.join("/b", "sub-01", "sub-01_sessions.tsv")


def test_a_wildcard_passes_through_for_rule_patterns():
    assert paths.subject_log("out", "subject_volumes", "{subject}") == os.path.join(
        "out", "logs", "subject_volumes", "sub-{subject}.log"
    )


def test_every_top_level_output_without_a_bids_name_is_ignored_by_the_validator():
    """Each group-level file the rules write matches a .bidsignore pattern; a subject's volume
    tables match only the pattern for *_volumes.tsv, its mosaic the one for figures."""
    patterns = [p for _, group in paths.BIDSIGNORE_PATTERNS for p in group]

    def ignored(relative: str) -> bool:
        return any(
            fnmatch.fnmatch("/" + relative, p if p.startswith("/") else "*/" + p)
            or fnmatch.fnmatch("/" + relative, (p if p.startswith("/") else "/" + p) + "/*")
            for p in patterns
        )

    out = "OUT"
    written = [
        paths.group_table(out, "volumes"),
        paths.group_file(out, "analysis.json"),
        paths.figure(out, "forest_rates.png"),
        paths.job_log(out, "group_statistics"),
        paths.dataset_file(out, paths.REPORT_PAGE),
        paths.dataset_file(out, paths.VOLUMES_SIDECAR),
    ]
    subject = paths.subject_outputs(paths.subject_output(out, "01"), "01", ["w0"])
    written += [str(subject["volumes"]), str(subject["mosaic"]), str(subject["errors"])]
    for path in written:
        assert ignored(os.path.relpath(path, out)), path
    assert not ignored(os.path.relpath(paths.dataset_file(out, paths.DATASET_DESCRIPTION), out))
