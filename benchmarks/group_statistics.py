"""Group statistics at cohort scale: 5 regions at 100, 1,000 and 10,000 subjects.

The cohort is simulated (3 groups, visits at weeks 0/24/48/96, some missed, random slopes);
each size is fitted end to end by brain_atrophy.stats.group.model_rates (the group job's work).
Prints the median of the repeats and the time per region.

    python benchmarks/group_statistics.py [--repeats 3]
"""

import argparse

import pandas as pd
from common import median_seconds

from brain_atrophy.stats.group import Settings, model_rates
from brain_atrophy_demo.simulate import simulate_volumes

REGIONS = [f"region{k}" for k in range(5)]


def cohort(n_subjects: int):
    sizes = (n_subjects * 44 // 133, n_subjects * 59 // 133)
    volumes, participants = simulate_volumes(1, n_per_group=(*sizes, n_subjects - sum(sizes)))
    scaled = [
        volumes.assign(region=name, volume_mm3=volumes["volume_mm3"] * (1 + k / 10))
        for k, name in enumerate(REGIONS)
    ]
    return pd.concat(scaled, ignore_index=True), participants


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"group statistics, 5 regions (median of {args.repeats})")
    for n in (100, 1_000, 10_000):
        volumes, participants = cohort(n)
        seconds = median_seconds(
            lambda v=volumes, p=participants: model_rates(v, p, REGIONS, Settings("HC")), args.repeats
        )
        rates = model_rates(volumes, participants, REGIONS, Settings("HC"))["rates_by_group"]
        print(
            f"  {n:>6} subjects, {len(volumes) // 5:>6} sessions: {seconds:6.1f} s "
            f"({seconds / 5:.2f} s per region; all converged: {bool(rates['converged'].all())})"
        )
    print("goal: 10,000 subjects in <= 60 s")


if __name__ == "__main__":
    main()
