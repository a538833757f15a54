"""Simulated longitudinal volumes with known group rates, in the group table's layout.

The statistics tests check the mixed model against these planted rates (and against R lme4 on
the same draws), and the group-statistics benchmark fits them at cohort scale. A draw is fixed
by its seed. ``GROUP_RATES`` are the mean slopes of 100·ln(volume) per year (≈ %/yr).
"""

import numpy as np
import pandas as pd

from brain_atrophy.paths import participant_id, session_id

GROUP_RATES = {"HC": -0.25, "OCR": -0.45, "IFN": -0.7}  # %/yr, slopes of 100·ln(volume)


def simulate_volumes(seed: int, n_per_group=(44, 59, 30), slope_sd=0.12, noise_sd=0.25, drop=0.1):
    """(volumes, participants) in the pipeline's group-table layout, one region 'brain'."""
    rng = np.random.default_rng(seed)
    rows, people = [], []
    for (group, rate), n in zip(GROUP_RATES.items(), n_per_group, strict=True):
        for i in range(n):
            subject = participant_id(f"{group}{i:03d}")
            age, sex = rng.uniform(20, 60), rng.choice(["F", "M"])
            people.append({"participant_id": subject, "group": group, "age": age, "sex": sex})
            intercept = 100 * np.log(1.2e6) + rng.normal(0, 12) + 0.05 * (age - 40) + (sex == "M") * 3
            slope = rate + rng.normal(0, slope_sd)
            weeks = [w for w in (0, 24, 48, 96) if w == 0 or rng.random() > drop]
            for w in weeks:
                years = (7 * w + (rng.integers(-5, 6) if w else 0)) / 365.25
                y = intercept + slope * years + rng.normal(0, noise_sd)
                rows.append(
                    {
                        "participant_id": subject,
                        "session_id": session_id(f"w{w}"),
                        "years": years,
                        "region": "brain",
                        "method": "labels",
                        "volume_mm3": float(np.exp(y / 100)),
                        "n_voxels": 0,
                    }
                )
    return pd.DataFrame(rows), pd.DataFrame(people).set_index("participant_id")


def add_scanner_upgrade(volumes: pd.DataFrame, seed: int, step_pct: float = -2.0, upgrade_year: float = 1.6):
    """Subjects enrol over 2.5 years; sessions from ``upgrade_year`` of the study on are on the
    upgraded scanner, which reads volumes ``step_pct`` % smaller. Adds a ``scanner`` column."""
    rng = np.random.default_rng(seed)
    subjects = volumes["participant_id"].unique()
    entry = pd.Series(rng.uniform(0, 2.5, len(subjects)), index=subjects)
    calendar = volumes["participant_id"].map(entry) + volumes["years"]
    upgraded = calendar >= upgrade_year
    return volumes.assign(
        scanner=np.where(upgraded, "Skyra XA30", "Skyra E11"),
        volume_mm3=volumes["volume_mm3"] * np.where(upgraded, 1 + step_pct / 100, 1.0),
    )


# ---------------------------------------------------------------- the study as it ran

STUDY_REGIONS = ("whole_brain", "white_matter", "cortical_gray_matter", "thalamus", "cerebellum")
# %/yr after the first 24 weeks (slopes of 100·ln(volume)), per group and region
STUDY_RATES = {
    "HC": {
        "whole_brain": -0.25,
        "white_matter": -0.15,
        "cortical_gray_matter": -0.3,
        "thalamus": -0.3,
        "cerebellum": -0.2,
    },
    "OCR": {
        "whole_brain": -0.4,
        "white_matter": -0.3,
        "cortical_gray_matter": -0.45,
        "thalamus": -0.6,
        "cerebellum": -0.35,
    },
    "IFN": {
        "whole_brain": -0.65,
        "white_matter": -0.55,
        "cortical_gray_matter": -0.7,
        "thalamus": -0.9,
        "cerebellum": -0.5,
    },
}
# Planted pseudo-atrophy: the extra loss (on the 100·ln scale) by week 24 in the treated groups,
# largest in white matter (illustrative sizes; see the demo's truth for the sources).
PSEUDO_ATROPHY = {
    "OCR": {
        "whole_brain": -0.6,
        "white_matter": -1.0,
        "cortical_gray_matter": -0.2,
        "thalamus": -0.3,
        "cerebellum": -0.2,
    },
    "IFN": {
        "whole_brain": -0.3,
        "white_matter": -0.5,
        "cortical_gray_matter": -0.1,
        "thalamus": -0.15,
        "cerebellum": -0.1,
    },
}
# visits (weeks) per group: controls have no week 24, as in the OPERA MRI substudy
SCHEDULES = {"HC": (0, 48, 96), "OCR": (0, 24, 48, 96), "IFN": (0, 24, 48, 96)}
ICV_MM3 = 1.45e6
ICV_NOISE_SD = 0.2  # % per session: an ICV estimate's own repeatability


def simulate_study(
    seed: int,
    n_per_group=(44, 59, 30),
    slope_sd=0.12,
    noise_sd=0.25,
    pseudo_atrophy: bool = True,
    icv_drift_pct: float = 0.0,
):
    """(volumes, participants) for the five regions, every group on its own schedule.

    Each region's volume is its fraction of the session's intracranial volume times that ICV.
    The fraction follows the group's planted rate (``STUDY_RATES``) with a random slope per
    subject, session noise and, from week 24 on in the treated groups, the planted
    pseudo-atrophy step. The ICV (``session_icv_mm3``, as a sessions.tsv ``icv`` column gives
    it) changes by ``icv_drift_pct`` %/yr, as an atlas-scaling estimate can, with its own
    session noise; with 0 the volumes follow the planted rates too."""
    rng = np.random.default_rng(seed)
    rows, people = [], []
    for group, n in zip(SCHEDULES, n_per_group, strict=True):
        for i in range(n):
            subject = participant_id(f"{group}{i:03d}")
            people.append({"participant_id": subject, "group": group})
            icv0 = ICV_MM3 * np.exp(rng.normal(0, 0.08))
            fractions = {r: np.log(share) * 100 + rng.normal(0, 5) for r, share in REGION_SHARES.items()}
            slopes = {r: STUDY_RATES[group][r] + rng.normal(0, slope_sd) for r in STUDY_REGIONS}
            weeks = [w for w in SCHEDULES[group] if w == 0 or rng.random() > 0.05]
            for w in weeks:
                years = (7 * w + (rng.integers(-5, 6) if w else 0)) / 365.25
                icv = icv0 * np.exp(icv_drift_pct / 100 * years + rng.normal(0, ICV_NOISE_SD / 100))
                step = PSEUDO_ATROPHY.get(group, {}) if pseudo_atrophy and w >= 24 else {}
                for region in STUDY_REGIONS:
                    y = (
                        fractions[region]
                        + slopes[region] * years
                        + step.get(region, 0.0)
                        + rng.normal(0, noise_sd)
                    )
                    rows.append(
                        {
                            "participant_id": subject,
                            "session_id": session_id(f"w{w}"),
                            "years": years,
                            "region": region,
                            "method": "labels",
                            "volume_mm3": float(np.exp(y / 100) * icv),
                            "n_voxels": 0,
                            "labelled_mm3": float(icv),
                            "session_icv_mm3": float(icv),
                        }
                    )
    return pd.DataFrame(rows), pd.DataFrame(people).set_index("participant_id")


# each region's share of the intracranial volume (adult means, for plausible numbers only)
REGION_SHARES = {
    "whole_brain": 0.78,
    "white_matter": 0.3,
    "cortical_gray_matter": 0.32,
    "thalamus": 0.0105,
    "cerebellum": 0.095,
}
