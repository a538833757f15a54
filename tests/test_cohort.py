"""Intracranial volume as a covariate: from sessions.tsv when every subject has it there,
else the labelled volume of each subject's first label image."""

import math

import pandas as pd

from brain_atrophy.stats.cohort import baseline_icv


def volumes(session_icv):
    return pd.DataFrame(
        {
            "participant_id": ["sub-a", "sub-a", "sub-b", "sub-b"],
            "years": [1.0, 0.0, 0.0, 1.0],
            "labelled_mm3": [1.40e6, 1.41e6, 1.60e6, 1.59e6],
            "session_icv_mm3": session_icv,
        }
    )


def test_baseline_icv_prefers_the_sessions_table_at_the_first_session():
    icv, source = baseline_icv(volumes([1.52e6, 1.50e6, 1.70e6, 1.71e6]))
    assert icv.to_dict() == {"sub-a": 1.50e6, "sub-b": 1.70e6}
    assert source.startswith("sessions.tsv")


def test_baseline_icv_falls_back_to_the_labelled_volume_when_any_subject_lacks_it():
    icv, source = baseline_icv(volumes([1.52e6, math.nan, 1.70e6, 1.71e6]))
    assert icv.to_dict() == {"sub-a": 1.41e6, "sub-b": 1.60e6}
    assert source.startswith("labelled volume")
