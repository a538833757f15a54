"""The planted-truth generator for registration-based change measurement (brain_atrophy_demo.deform):
the Jacobian truth against analytic fields, the planted shrink against the request and against
nearest-neighbour label counts, the inverse map's residual, and the study it writes."""

import hashlib
import math
from datetime import datetime
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from brain_atrophy.inputs.regions import load_regions
from brain_atrophy.tables import read_frame
from brain_atrophy_demo import deform, demo

CACHE = Path(__file__).resolve().parents[1] / ".cache"  # where conftest's atlas_path keeps the wheel's files
PRESET = ("whole_brain", "white_matter", "cortical_gray_matter", "thalamus", "cerebellum")


@pytest.fixture(scope="module")
def source():
    return deform.load_source(CACHE)


@pytest.fixture(scope="module")
def subject(source):
    """A subject and its 1 mm anatomy (the truth's grid)."""
    person = deform.random_subject(np.random.default_rng(5), source.centre)
    return person, deform.subject_anatomy(source, person)


@pytest.fixture(scope="module")
def thalamus_pair():
    return deform.simulate_pair(CACHE, voxel_mm=3.0, shrink={"thalamus": 0.02}, seed=2)


def volume(labels, group) -> int:
    return int(deform.region_mask(np.asarray(labels), group).sum())


def test_the_template_is_fetched_from_the_same_cache_with_its_known_content():
    path = demo.fetch_member(CACHE, demo.TEMPLATE_MEMBER, demo.TEMPLATE_SHA256)
    assert path == CACHE / "Template_05mm_bet.nii.gz"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == demo.TEMPLATE_SHA256
    assert demo.fetch_atlas(CACHE) == CACHE / "ibsr.nii.gz"  # still there, untouched
    image = nib.load(path)
    assert image.shape == (339, 411, 339) and np.allclose(image.header.get_zooms(), 0.5)


def test_uniform_scaling_truth_is_s_cubed():
    shape = (40, 42, 44)
    centre = np.array(shape) / 2
    points = np.indices(shape).astype(float)  # a 1 mm grid, in mm
    labels = np.zeros(shape, np.uint8)
    ball = ((points - centre[:, None, None, None]) ** 2).sum(axis=0) <= 8**2
    labels[ball] = 10
    labels[12:28, 12:16, 14:30] = 2  # a slab beside the ball
    for scale in (0.97, 0.99, 1.02, (0.98, 1.01, 0.995)):
        factors = np.broadcast_to(np.asarray(scale, float), (3,))
        field = (factors - 1)[:, None, None, None] * (points - centre[:, None, None, None])
        jacobian = deform.jacobian_determinant(field)
        truth = deform.region_changes(labels, jacobian, {"ball": (10,), "slab": (2,)})
        expected = float(np.prod(factors)) - 1
        assert truth["ball"] == pytest.approx(expected, abs=1e-3)
        assert truth["slab"] == pytest.approx(expected, abs=1e-3)
        # exact inside, away from the mirror-extended edges (a linear field is a cubic spline)
        assert np.allclose(jacobian[8:-8, 8:-8, 8:-8], np.prod(factors), atol=1e-9)


def test_jacobian_of_a_nonlinear_field_integrates_to_its_analytic_value():
    # d_x = A sin(2πx/λ): det grad phi = 1 + A (2π/λ) cos(2πx/λ), expansion where the cosine is positive
    amplitude, wavelength, shape = 0.4, 24.0, (64, 20, 20)
    x = np.arange(shape[0], dtype=float)[:, None, None] * np.ones(shape)
    field = np.zeros((3, *shape))
    field[0] = amplitude * np.sin(2 * math.pi * x / wavelength)
    jacobian = deform.jacobian_determinant(field)
    analytic = 1 + amplitude * 2 * math.pi / wavelength * np.cos(2 * math.pi * x / wavelength)
    inner = (slice(8, -8), slice(4, -4), slice(4, -4))
    assert np.abs(jacobian[inner] - analytic[inner]).max() < 2e-4
    labels = np.zeros(shape, np.uint8)
    labels[18:30, 4:-4, 4:-4] = 3  # x 18..29: around the crest of the cosine at x = 24
    truth = deform.region_changes(labels, jacobian, {"slab": (3,)})["slab"]
    exact = analytic[18:30, 0, 0].mean() - 1
    assert exact > 0.05 and truth == pytest.approx(exact, abs=2e-4)


def test_a_rescan_pair_has_zero_truth_and_a_new_position_noise_and_bias(source):
    sim = deform.simulate_pair(CACHE, voxel_mm=2.0, shrink=None, seed=1)
    pair = sim.pair
    assert sim.atrophy is None and sim.residual_mm == 0.0
    assert pair.truth == dict.fromkeys(PRESET, 0.0)
    for image in (pair.baseline, pair.followup, pair.labels):
        assert image.header.get_sform(coded=True)[1] == 1 and image.header.get_qform(coded=True)[1] == 1
        assert np.allclose(image.header.get_zooms(), 2.0)
        assert np.allclose(image.header.get_qform(), image.affine, atol=1e-4)
    assert pair.baseline.get_data_dtype() == np.int16 and pair.labels.get_data_dtype() == np.uint8
    assert pair.labels.shape == pair.baseline.shape and np.allclose(pair.labels.affine, pair.baseline.affine)
    assert not np.allclose(pair.baseline.affine, pair.followup.affine)  # the head was repositioned
    # the labels sit on the baseline's anatomy: white matter brightest, cortex darker, outside dark
    t1, labels = np.asarray(pair.baseline.dataobj, float), np.asarray(pair.labels.dataobj)
    wm = t1[deform.region_mask(labels, source.regions["white_matter"])].mean()
    gm = t1[deform.region_mask(labels, (3, 42))].mean()
    outside = t1[labels == 0].mean()
    assert 800 < wm < 1100 and 0.55 * wm < gm < 0.85 * wm and outside < 0.2 * wm
    # the same anatomy in both: each labelled region's volume is the same to resampling noise
    followup_labels = deform.scan(source, sim.subject, sim.anatomy, None, 2.0, np.random.default_rng(9))[1]
    for region in ("white_matter", "thalamus", "cerebellum"):
        group = source.regions[region]
        before, after = volume(labels, group), volume(followup_labels.dataobj, group)
        assert abs(after / before - 1) < 0.02


def test_noise_and_bias_can_be_left_out_with_the_same_pose_and_anatomy():
    default = deform.make_pair(CACHE, voxel_mm=3.0, shrink=None, seed=3)
    clean = deform.make_pair(CACHE, voxel_mm=3.0, shrink=None, seed=3, snr=math.inf, bias_peak=(0.0, 0.0))
    assert np.allclose(clean.followup.affine, default.followup.affine)
    assert np.array_equal(np.asarray(clean.labels.dataobj), np.asarray(default.labels.dataobj))
    labels = np.asarray(clean.labels.dataobj)
    for made in (clean, default):
        t1 = np.asarray(made.baseline.dataobj, float)
        corner = t1[:3, :3, :3]  # air, outside the brain-extracted head
        if made is clean:
            assert np.all(corner == 0)
        else:
            assert corner.std() > 5  # Rician noise
    # without a bias field the white matter is one level throughout: left and right agree
    t1 = np.asarray(clean.baseline.dataobj, float)
    left, right = (t1[labels == code].mean() for code in (2, 41))
    assert abs(left / right - 1) < 0.02


def test_a_requested_thalamus_shrink_is_met_and_nearest_neighbour_labels_agree(thalamus_pair, source):
    sim = thalamus_pair
    truth = sim.pair.truth
    assert set(truth) == set(PRESET)
    assert truth["thalamus"] == pytest.approx(-0.02, abs=0.003)
    assert abs(truth["cerebellum"]) < 1e-4  # far away: untouched
    assert abs(truth["whole_brain"]) < 2e-3  # the shell around the thalamus makes room for it
    assert sim.residual_mm < 0.01 * deform.ANATOMY_MM  # phi(psi(y)) = y at every follow-up voxel
    assert 0.9 < sim.atrophy.jacobian.min() < 1 < sim.atrophy.jacobian.max() < 1.1
    # independent of the Jacobian: the follow-up's labels on the 1 mm anatomy grid lose volume too
    followup = deform.deformed_labels(source, sim.subject, sim.anatomy, sim.atrophy)
    group = source.regions["thalamus"]
    nearest = volume(followup, group) / volume(sim.anatomy.labels, group) - 1
    assert nearest < 0 and abs(nearest - truth["thalamus"]) < 0.005
    # and the images differ where the labels say, not only by noise: the follow-up is a new scan
    assert not np.array_equal(np.asarray(sim.pair.baseline.dataobj), np.asarray(sim.pair.followup.dataobj))


def test_the_forward_map_contracts_towards_the_region_and_its_inverse_is_exact(thalamus_pair, source):
    sim = thalamus_pair
    atrophy, anatomy = sim.atrophy, sim.anatomy
    # both thalami touch in this subject: one part, contracted about its centroid
    inside = np.argwhere(deform.region_mask(anatomy.labels, source.regions["thalamus"]))
    points = deform.apply_affine(anatomy.affine, inside.astype(float))
    centroid = points.mean(axis=0)
    moved = deform.displacement(atrophy, points)
    assert (np.einsum("ij,ij->i", moved, points - centroid) < 0).all()  # every point moves inwards
    uniform = -atrophy.strength["thalamus"] * (points - centroid)  # the part scaled by 1 - alpha
    assert np.median(np.abs(moved - uniform)) < 1e-3 and np.abs(moved - uniform).max() < 0.05
    rng = np.random.default_rng(0)
    box_low = atrophy.origin
    box_high = atrophy.origin + (np.array(atrophy.jacobian.shape) - 1) * deform.ANATOMY_MM
    targets = rng.uniform(box_low, box_high, size=(20000, 3))  # off the grid
    psi, residual = deform.invert(atrophy, targets)
    independent = np.abs(psi + deform.displacement(atrophy, psi) - targets).max()
    assert residual < 1e-5 and independent < 1e-5
    assert np.abs(psi - targets).max() > 0.05  # it did move points


def test_requests_by_label_group_and_growth(subject, source):
    _, anatomy = subject
    left = deform.plan_atrophy(anatomy, {(10,): 0.03}, source.regions)
    assert left.truth["labels_10"] == pytest.approx(-0.03, abs=1e-4)
    share = volume(anatomy.labels, (10,)) / volume(anatomy.labels, (10, 49))
    assert left.truth["thalamus"] == pytest.approx(-0.03 * share, abs=0.003)  # the right one stays
    grown = deform.plan_atrophy(anatomy, {"cerebellum": -0.02}, source.regions)
    assert grown.truth["cerebellum"] == pytest.approx(0.02, abs=1e-4)
    assert deform.plan_atrophy(anatomy, {}, source.regions) is None
    assert deform.plan_atrophy(anatomy, {"thalamus": 0.0}, source.regions) is None
    with pytest.raises(ValueError, match="unknown region"):
        deform.plan_atrophy(anatomy, {"hippocampus": 0.02}, source.regions)


def test_subject_maps_are_small_and_diffeomorphic(source):
    for seed in range(30):
        person = deform.random_subject(np.random.default_rng(seed), source.centre)
        assert deform.gradient_bound(person.warp) <= deform.MAX_WARP_GRADIENT + 1e-12
        assert 0.95**3 - 1e-9 < abs(np.linalg.det(person.affine[:3, :3])) < 1.05**3 + 1e-9
        points = np.random.default_rng(seed).uniform(-80, 80, (2000, 3))
        assert np.abs(deform.evaluate_modes(person.warp, points)).max() <= deform.WARP_MM + 1e-9


def test_a_grid_is_mapped_axis_by_axis_as_point_by_point(source):
    """The grid forms (the anatomy's and the scans' grids) against the point-by-point forms, on a
    rotated, anisotropic grid and a slab that does not start at 0."""
    person = deform.random_subject(np.random.default_rng(5), source.centre)
    grid = np.eye(4)
    grid[:3, :3] = deform.rotation(np.radians([3.0, -2.0, 5.0])) @ np.diag([1.0, 1.5, 2.0])
    grid[:3, 3] = [-70.0, -90.0, -40.0]
    shape, start, stop = (21, 17, 30), 4, 19
    points = deform.grid_points(grid, shape, start, stop)
    assert points.shape == (21 * 17 * 15, 3)
    on_grid = deform.evaluate_modes_on_grid(person.warp, grid, shape, start, stop)
    assert np.abs(on_grid - deform.evaluate_modes(person.warp, points)).max() < 1e-9
    mapped = deform.grid_to_template(person, grid, shape, start, stop)
    assert np.abs(mapped - deform.to_template(person, points)).max() < 1e-9


def test_segmentation_noise_relabels_a_small_share_of_each_region(thalamus_pair, source):
    labels = np.asarray(thalamus_pair.pair.labels.dataobj)
    first = deform.segmentation_noise(labels, np.random.default_rng(1))
    second = deform.segmentation_noise(labels, np.random.default_rng(2))
    assert not np.array_equal(first, second)  # independent per session
    changed = first != labels
    assert 0 < changed.sum() <= 0.01 * (labels > 0).sum()
    net = []
    for region, group in source.regions.items():
        mask, after = deform.region_mask(labels, group), deform.region_mask(first, group)
        relabelled = (changed & mask).sum() + (changed & after).sum()
        assert 0.002 < relabelled / mask.sum() < 0.06, region
        net.append(after.sum() / mask.sum() - 1)
    assert 0.002 < max(np.abs(net)) < 0.03  # some regions come out bigger or smaller, as on a rescan


def test_the_study_has_its_files_and_consistent_truth(tmp_path, capsys):
    out = tmp_path / "study"
    deform.main(
        [str(out), "--groups", "HC=1,MS=1", "--weeks", "0,48,96", "--followup-labels", "--seed", "3"]
        + ["--cache", str(CACHE)]
    )
    assert "2 subjects, 6 sessions" in capsys.readouterr().out
    bids, seg, truth_dir = out / "bids", out / "derivatives" / "segmentation", out / "truth"
    for path in ("dataset_description.json", "participants.tsv"):
        assert (bids / path).is_file()
    assert '"derivative"' in (seg / "dataset_description.json").read_text()
    participants = read_frame(bids / "participants.tsv")
    assert participants.to_dict("list") == {"participant_id": ["sub-HC01", "sub-MS01"], "group": ["HC", "MS"]}
    volumes = read_frame(truth_dir / "volumes.tsv")
    assert list(volumes.columns[:7]) == [
        "participant_id",
        "session_id",
        "group",
        "years",
        "region",
        "volume_mm3",
        "true_change",
    ]
    for subject in ("HC01", "MS01"):
        sessions = read_frame(bids / f"sub-{subject}" / f"sub-{subject}_sessions.tsv")
        assert list(sessions["session_id"]) == ["ses-w0", "ses-w48", "ses-w96"]
        times = [datetime.fromisoformat(t) for t in sessions["acq_time"]]
        for week, when in zip((0, 48, 96), times, strict=True):
            anat = bids / f"sub-{subject}" / f"ses-w{week}" / "anat"
            assert (anat / f"sub-{subject}_ses-w{week}_T1w.nii.gz").is_file()
            dseg = seg / f"sub-{subject}" / f"ses-w{week}" / "anat" / f"sub-{subject}_ses-w{week}_dseg.nii.gz"
            assert dseg.is_file()
            rows = volumes[
                (volumes["participant_id"] == f"sub-{subject}") & (volumes["session_id"] == f"ses-w{week}")
            ]
            assert list(rows["region"]) == list(PRESET)
            assert rows["years"].iloc[0] == pytest.approx((when - times[0]).days / 365.25)
        baseline = volumes[
            (volumes["participant_id"] == f"sub-{subject}") & (volumes["session_id"] == "ses-w0")
        ]
        assert (baseline["true_change"] == 0).all()
        labels = nib.load(seg / f"sub-{subject}" / "ses-w0" / "anat" / f"sub-{subject}_ses-w0_dseg.nii.gz")
        voxel = abs(np.linalg.det(labels.affine[:3, :3]))
        regions = load_regions(deform.REGION_TABLE)
        for _, row in baseline.iterrows():
            assert row["volume_mm3"] == pytest.approx(voxel * volume(labels.dataobj, regions[row["region"]]))
        first = baseline.set_index("region")["volume_mm3"]
        rows = volumes[volumes["participant_id"] == f"sub-{subject}"]
        expected = rows["region"].map(first) * (1 + rows["true_change"])
        assert np.allclose(rows["volume_mm3"], expected, rtol=1e-12)
        # the planted regions: the integral meets the request, and later sessions have lost more
        planted = rows[rows["requested_change"].notna()]
        assert set(planted["region"]) == {"thalamus", "cerebellum"} and len(planted) == 4
        assert np.allclose(planted["true_change"], planted["requested_change"], atol=1e-4)
        for region in ("thalamus", "cerebellum"):
            series = rows[rows["region"] == region]["true_change"].to_numpy()
            assert series[0] == 0 > series[1] > series[2]
        # a follow-up's labels: the deformed truth with segmentation noise of about a percent
        followup = nib.load(
            seg / f"sub-{subject}" / "ses-w96" / "anat" / f"sub-{subject}_ses-w96_dseg.nii.gz"
        )
        late = rows[rows["session_id"] == "ses-w96"].set_index("region")["volume_mm3"]
        for region in ("whole_brain", "cerebellum"):
            measured = abs(np.linalg.det(followup.affine[:3, :3])) * volume(followup.dataobj, regions[region])
            assert measured == pytest.approx(late[region], rel=0.05)
    # MS thalamus: its subject's planted rate is what the log-linear truth follows
    subjects = read_frame(truth_dir / "subjects.tsv").set_index(["participant_id", "region"])
    rate = subjects.loc[("sub-MS01", "thalamus"), "planted_rate_pct_per_year"]
    late = volumes[(volumes["participant_id"] == "sub-MS01") & (volumes["session_id"] == "ses-w96")]
    row = late[late["region"] == "thalamus"].iloc[0]
    assert row["true_change"] == pytest.approx((1 + rate / 100) ** row["years"] - 1, abs=1e-4)
    rates = read_frame(truth_dir / "rates.tsv")
    planted = {(r.group, r.region): r.rate_pct_per_year for r in rates.itertuples()}
    assert planted == {(g, r): v for g, rs in deform.DEFAULT_RATES.items() for r, v in rs.items()}
    readme = (truth_dir / "README.md").read_text()
    assert all(name in readme for name in ("volumes.tsv", "rates.tsv", "det(grad phi)"))


def test_head_images_show_a_skull_and_scalp_around_the_same_brain(tmp_path):
    """--head: the brain's signal is the template's as before; around it the images now show the
    pydeface head's skull and scalp (bright) and its neck below, where brain-only images show air."""
    shown = {}
    for head in (False, True):
        out = tmp_path / f"head-{head}"
        deform.build_study(out, CACHE, {"HC": 1}, (0,), voxel_mm=3.0, seed=4, head=head)
        t1w = nib.load(out / "bids" / "sub-HC01" / "ses-w0" / "anat" / "sub-HC01_ses-w0_T1w.nii.gz")
        labels = np.asarray(
            nib.load(
                out
                / "derivatives"
                / "segmentation"
                / "sub-HC01"
                / "ses-w0"
                / "anat"
                / "sub-HC01_ses-w0_dseg.nii.gz"
            ).dataobj
        )
        t1 = np.asarray(t1w.dataobj, float)
        distance = ndimage.distance_transform_edt(labels == 0) * 3.0  # mm outside the brain's labels
        shown[head] = {
            "white_matter": np.median(t1[np.isin(labels, (2, 41))]),
            "shell": np.percentile(t1[(distance > 6) & (distance < 18)], 90),
            "volume_ml": t1.size * 27 / 1000,
            "brain_ml": (labels > 0).sum() * 27 / 1000,
        }
    brain, head = shown[False], shown[True]
    assert head["white_matter"] == pytest.approx(brain["white_matter"], rel=0.05)
    assert brain["shell"] < 0.15 * brain["white_matter"]  # noise: nothing there
    assert head["shell"] > 0.6 * head["white_matter"]  # the skull's marrow and the scalp
    assert head["volume_ml"] > 1.5 * brain["volume_ml"]  # the field of view holds the head
    assert head["brain_ml"] == pytest.approx(brain["brain_ml"], rel=0.02)  # the same anatomy
