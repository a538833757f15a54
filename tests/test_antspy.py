"""brain_atrophy.register.antspy: ANTsPy loaded with the subpackages a registration job calls
gives the same functions as `import ants`, without ANTsPy's statistics, plotting and
deep-learning stacks; any other name still resolves. Each side runs in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("ants")

# what each interpreter prints: where every public name of the `ants` namespace comes from,
# and where a name of a subpackage not loaded comes from
REPORT = """
import json
{load}
def origin(value):
    return f"{{getattr(value, '__module__', None)}}.{{getattr(value, '__qualname__', type(value).__name__)}}"
names = {{n: origin(v) for n, v in vars(ants).items() if not n.startswith("_")}}
atropos = origin(ants.atropos)
print(json.dumps({{"names": names, "atropos": atropos, "version": ants.__version__}}))
"""


def report(load: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", REPORT.format(load=load)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def both():
    lean = report("from brain_atrophy.register import antspy\nants = antspy.load()")
    full = report("import ants")
    return lean, full


def test_the_lean_namespace_holds_the_same_functions_as_import_ants(both):
    lean, full = both
    # every name the pipeline calls is there, from the same definition as in a full import
    called = [
        "image_read", "registration", "apply_transforms", "n4_bias_field_correction",
        "create_jacobian_determinant_image", "crop_image", "iMath", "threshold_image", "smooth_image",
        "resample_image", "resample_image_to_target", "image_physical_space_consistency",
        "create_ants_transform", "apply_ants_transform_to_image", "read_transform", "write_transform",
    ]  # fmt: skip
    for name in called:
        assert lean["names"][name] == full["names"][name], name
    lean_only = {n: o for n, o in lean["names"].items() if full["names"].get(n) != o}
    assert not lean_only, f"names that differ from `import ants`: {lean_only}"
    assert lean["version"] == full["version"]


def test_a_name_of_a_subpackage_not_loaded_is_found_as_import_ants_finds_it(both):
    lean, full = both
    assert lean["atropos"] == full["atropos"] == "ants.segmentation.atropos.atropos"


def test_a_lean_load_imports_no_statistics_plotting_or_learning_stack():
    script = (
        "import sys\nfrom brain_atrophy.register import antspy\nantspy.load()\n"
        "heavy = ('sklearn', 'matplotlib', 'statsmodels', 'scipy.stats')\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_seeded_sets_ants_random_seed_and_restores_it():
    from brain_atrophy.register import antspy

    antspy.load()
    import ants.config

    before = ants.config._random_seed
    with antspy.seeded(7):
        assert ants.config._random_seed == 7
    assert ants.config._random_seed == before
