"""The volume step for one session against the decompression floor and the typical script.

For 256³ FreeSurfer-like label maps stored as uint8/int16/int32/float32, .nii.gz and .nii:
  floor     read the file, decompress with the fastest decoder (buffer pre-sized from the gzip
            trailer), view the voxels with np.frombuffer, one np.bincount, sum regions
  pipeline  brain_atrophy.measure.subject.session_volumes (header checks included)
  typical   nibabel.load(...).get_fdata() and one np.isin mask per region
  nilearn   nilearn.image.math_img per region (once, on one file: it is slow)
Prints medians of several repeats, measured side by side, and the ratios.

    python benchmarks/volume_step.py [--repeats 5]
"""

import argparse
import struct
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np
from common import REPO, freesurfer_like_256, median_seconds

from brain_atrophy.inputs.regions import read_region_table
from brain_atrophy.measure.images import _inflate
from brain_atrophy.measure.subject import session_volumes

REGIONS = read_region_table(REPO / "config" / "regions" / "freesurfer.tsv")


def floor(path: Path, dtype: np.dtype) -> dict:
    raw = path.read_bytes()
    if path.name.endswith(".gz"):
        raw = _inflate(raw, wbits=31, bufsize=int.from_bytes(raw[-4:], "little"))
    offset = int(struct.unpack("<f", raw[108:112])[0])
    voxels = np.frombuffer(raw, dtype=dtype, offset=offset, count=256**3)
    if dtype.kind == "f":
        voxels = voxels.astype(np.int32)
    counts = np.bincount(voxels)
    return {
        name: int(counts[[lab for lab in labels if lab < counts.size]].sum())
        for name, labels in REGIONS.items()
    }


def typical(path: Path) -> dict:
    image = nib.load(path)
    data = image.get_fdata()
    voxel = abs(np.linalg.det(image.affine[:3, :3]))
    return {name: np.isin(data, labels).sum() * voxel for name, labels in REGIONS.items()}


def with_nilearn(path: Path) -> dict:
    from nilearn.image import math_img

    volumes = {}
    for name, labels in REGIONS.items():
        mask = math_img(f"np.isin(img, {list(labels)})", img=str(path))
        volumes[name] = float(np.asarray(mask.dataobj).sum())
    return volumes


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    aseg, aparc = freesurfer_like_256(False), freesurfer_like_256(True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for dtype in ("uint8", "int16", "int32", "float32"):
            labels = aseg if dtype == "uint8" else aparc
            for extension in (".nii.gz", ".nii"):
                path = Path(tmp) / f"sub-1_ses-1_{dtype}_dseg{extension}"
                nib.save(nib.Nifti1Image(labels.astype(dtype), np.eye(4)), path)
                expected = {
                    k: v["n_voxels"] for k, v in ((r["region"], r) for r in session_volumes(path, REGIONS))
                }
                assert floor(path, np.dtype(dtype)) == expected  # all methods measure the same thing
                stored = np.dtype(dtype)
                row = {
                    "storage": f"{dtype}{extension}",
                    "floor": median_seconds(lambda p=path, d=stored: floor(p, d), args.repeats),
                    "pipeline": median_seconds(lambda p=path: session_volumes(p, REGIONS), args.repeats),
                }
                if extension == ".nii.gz":
                    row["typical"] = median_seconds(lambda p=path: typical(p), max(1, args.repeats // 2))
                rows.append(row)
        nilearn_path = Path(tmp) / "sub-1_ses-1_int32_dseg.nii.gz"
        nilearn_seconds = median_seconds(lambda: with_nilearn(nilearn_path), 1)
    print(f"volume step, one 256³ label map, 5 regions (median of {args.repeats}; ms)")
    print(
        f"{'storage':<16}{'floor':>8}{'pipeline':>10}{'typical':>10}{'pipeline/floor':>16}{'typical/pipeline':>18}"
    )
    for row in rows:
        typical_ms = f"{1000 * row['typical']:.0f}" if "typical" in row else "-"
        speedup = f"{row['typical'] / row['pipeline']:.0f}x" if "typical" in row else "-"
        print(
            f"{row['storage']:<16}{1000 * row['floor']:>8.0f}{1000 * row['pipeline']:>10.0f}{typical_ms:>10}"
            f"{row['pipeline'] / row['floor']:>16.2f}{speedup:>18}"
        )
    int32_gz = next(r for r in rows if r["storage"] == "int32.nii.gz")
    print(
        f"nilearn math_img per region (int32.nii.gz, once): {1000 * nilearn_seconds:.0f} ms, "
        f"{nilearn_seconds / int32_gz['pipeline']:.0f}x the pipeline"
    )
    print("goals: pipeline/floor <= 1.3 and typical/pipeline >= 20 on .nii.gz")


if __name__ == "__main__":
    main()
