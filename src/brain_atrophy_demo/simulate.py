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
