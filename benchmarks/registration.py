"""Registration accuracy and cost per pair (change_measure: jacobian), against planted truth.

Pairs come from brain_atrophy_demo.deform: the real T1 template and IBSR labels pulled through a
random subject warp; every session re-positioned rigidly with its own noise and bias field.
The truth of each region is the integral of the applied deformation's Jacobian (never the
method's output). For each pair this runs the pipeline's own registration
(brain_atrophy.register.pair) and Jacobian integration (brain_atrophy.measure.jacobian), and prints
per region the truth, the measured change and, for planted regions, measured/planted; then the
issue's bars over the regions of ≥ 5 ml:

- zero change (pseudo-rescans): max |change| ≤ 0.3 %, mean |change| ≤ 0.15 %;
- known change (planted 1-5 % losses): measured within 15 % of the truth in every planted region.

    python benchmarks/registration.py [--voxel-mm 1] [--zero 2] [--planted 2] [--iterations 40 20 4]
        [--gradient-step 0.5] [--metric CC] [--metric-radius 2] [--bias-field-levels 3]
        [--halfway-interpolation linear|bSpline]
        [--snr inf] [--bias-peak 0 0] [--seed 0] [--source template|colin27]

--source colin27 makes the pairs from one person's T1w with the AAL labels drawn on it
(brain_atrophy_demo.colin27; Debian: apt-get install mricron-data) instead of the averaged template.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from brain_atrophy.inputs.regions import load_regions  # noqa: E402
from brain_atrophy.measure.jacobian import integrate, region_masks  # noqa: E402
from brain_atrophy.register.pair import DEFAULT_SETTINGS, register_pair  # noqa: E402
from brain_atrophy_demo import colin27  # noqa: E402
from brain_atrophy_demo.deform import BIAS_PEAK, SNR, make_pair  # noqa: E402

PLANTED = ({"thalamus": 0.02, "cerebellum": 0.04}, {"thalamus": 0.05, "cerebellum": 0.01})
MIN_ML = 5.0


def measure_pair(pair, settings: dict, threads: int, regions: dict) -> tuple[dict, dict]:
    """{region: measured relative change} and the registration's measures."""
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for key in ("baseline", "followup"):
            files[key] = f"{tmp}/{key}.nii.gz"
            nib.save(getattr(pair, key), files[key])
        labels = np.asarray(pair.labels.dataobj)
        result = register_pair(files["baseline"], files["followup"], labels, settings, threads)
    means = integrate(result.jacobian, region_masks(labels, regions), "pair")
    return {name: mean - 1 for name, mean in means.items()}, result.measures


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--voxel-mm", type=float, default=1.0)
    parser.add_argument("--zero", type=int, default=2, help="pseudo-rescan pairs")
    parser.add_argument("--planted", type=int, default=2, help="pairs with planted losses")
    parser.add_argument("--iterations", type=int, nargs="+", default=DEFAULT_SETTINGS["iterations"])
    parser.add_argument("--gradient-step", type=float, default=DEFAULT_SETTINGS["gradient_step"])
    parser.add_argument("--flow-sigma", type=float, default=DEFAULT_SETTINGS["flow_sigma"])
    parser.add_argument("--total-sigma", type=float, default=DEFAULT_SETTINGS["total_sigma"])
    parser.add_argument("--metric", choices=("CC", "MeanSquares"), default=DEFAULT_SETTINGS["metric"])
    parser.add_argument("--metric-radius", type=int, default=DEFAULT_SETTINGS["metric_radius"])
    parser.add_argument("--bias-field-levels", type=int, default=DEFAULT_SETTINGS["bias_field_levels"])
    parser.add_argument(
        "--halfway-interpolation",
        choices=("linear", "bSpline"),
        default=DEFAULT_SETTINGS["halfway_interpolation"],
    )
    parser.add_argument("--snr", type=float, default=SNR, help="the pairs' white-matter SNR (inf: no noise)")
    parser.add_argument(
        "--bias-peak",
        type=float,
        nargs=2,
        default=BIAS_PEAK,
        help="the pairs' bias-field peak range (0 0: none)",
    )
    parser.add_argument("--seed", type=int, default=0, help="first pseudo-rescan seed (planted pairs: +100)")
    parser.add_argument("--source", choices=("template", "colin27"), default="template")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache-dir", type=Path, default=REPO / ".cache")
    arguments = parser.parse_args()
    settings = {
        **DEFAULT_SETTINGS,
        "iterations": arguments.iterations,
        "gradient_step": arguments.gradient_step,
        "flow_sigma": arguments.flow_sigma,
        "total_sigma": arguments.total_sigma,
        "bias_field_levels": arguments.bias_field_levels,
        "halfway_interpolation": arguments.halfway_interpolation,
        "metric": arguments.metric,
        "metric_radius": arguments.metric_radius,
    }
    regions = load_regions(REPO / "config" / "regions" / "freesurfer.tsv", None)
    source = colin27.load_source(arguments.cache_dir) if arguments.source == "colin27" else None
    print(
        f"voxel {arguments.voxel_mm:g} mm, {arguments.threads} threads, settings {json.dumps(settings)}, "
        f"pairs from the {arguments.source}: SNR {arguments.snr:g}, bias peak {arguments.bias_peak}"
    )
    first = arguments.seed
    cases = [("zero", {}, first + k) for k in range(arguments.zero)]
    cases += [("planted", PLANTED[k % len(PLANTED)], first + 100 + k) for k in range(arguments.planted)]
    zero_errors, planted_ratios, seconds = [], [], []
    for kind, shrink, seed in cases:
        started = time.perf_counter()
        pair = make_pair(
            arguments.cache_dir, arguments.voxel_mm, shrink, seed, arguments.snr, arguments.bias_peak, source
        )
        made = time.perf_counter() - started
        measured, measures = measure_pair(pair, settings, arguments.threads, regions)
        seconds.append(measures["seconds"])
        labels = np.asarray(pair.labels.dataobj)
        voxel_ml = float(np.prod(pair.labels.header.get_zooms()[:3])) / 1000
        print(
            f"\n{kind} pair (seed {seed}, planted {shrink or 'nothing'}): made in {made:.0f} s, "
            f"registered in {measures['seconds']:.0f} s {measures['phase_seconds']}, "
            f"similarity {measures['similarity']:.4f}, shell log-J {measures['shell_log_jacobian']:+.4f}, "
            f"folding {measures['folding_fraction']:.5f}"
        )
        for name, codes in regions.items():
            ml = np.isin(labels, codes).sum() * voxel_ml
            truth, found = pair.truth[name], measured[name]
            line = f"  {name:22s} {ml:7.1f} ml  truth {100 * truth:+7.3f} %  measured {100 * found:+7.3f} %"
            if ml >= MIN_ML and kind == "zero":
                zero_errors.append(abs(found))
            if ml >= MIN_ML and name in shrink:
                planted_ratios.append(found / truth)
                line += f"  measured/truth {found / truth:.3f}"
            print(line)
    low, high = min(seconds), max(seconds)
    print(f"\nseconds per pair: median {statistics.median(seconds):.0f} (min {low:.0f}, max {high:.0f})")
    if zero_errors:
        print(
            f"zero change, regions >= {MIN_ML:g} ml: max |change| {100 * max(zero_errors):.3f} % (bar 0.3), "
            f"mean |change| {100 * statistics.mean(zero_errors):.3f} % (bar 0.15)"
        )
    if planted_ratios:
        print(
            f"planted change: measured/truth from {min(planted_ratios):.3f} to {max(planted_ratios):.3f} "
            "(bar 0.85-1.15)"
        )


if __name__ == "__main__":
    main()
