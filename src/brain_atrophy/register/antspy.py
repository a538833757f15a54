"""ANTsPy, loaded with the parts a registration job calls.

`import ants` runs ANTsPy's package `__init__`, which imports every subpackage, among them its
statistics, plotting and deep-learning helpers and, through them, scikit-learn, matplotlib,
statsmodels and scipy.stats: 1.75-1.95 s in every registration job, against 0.45 s without
them (docs/performance.md). `load()` builds the same `ants` namespace from the
subpackages the pipeline calls, in the `__init__`'s order; any other name is looked up by
loading the rest, so the module behaves as a full `import ants`.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import importlib.util
import sys

# ANTs' random sampling of the metric's points (the rigid and affine stages) draws from this
# seed, so that a pair or a subject registered again on one thread reads the same (on more,
# ITK's threaded sums still differ slightly: 0.003° of rigid rotation in one 3 mm pair)
RANDOM_SEED = 1
# The subpackages whose functions the pipeline calls (reading and writing images and
# transforms, resampling, N4, registration, Jacobians), in the order ANTsPy's __init__ imports them
CALLED = ("core", "ops", "registration", "utils")
# ANTsPy's __init__: every subpackage, in its order (a later name replaces an earlier one)
ALL = (
    "core", "label", "learn", "math", "ops", "plotting", "registration", "segmentation", "utils", "contrib",
    "deeplearn",
)  # fmt: skip


def _public_names(module) -> list[str]:
    """The names `from module import *` binds."""
    names = getattr(module, "__all__", None)
    return list(names) if names is not None else [n for n in vars(module) if not n.startswith("_")]


def _import_subpackages(package, names) -> None:
    for name in names:
        module = importlib.import_module(f"ants.{name}")
        for public in _public_names(module):
            setattr(package, public, getattr(module, public))


def load():
    """The `ants` module: the one already imported, or a new one holding `CALLED`."""
    if "ants" in sys.modules:
        return sys.modules["ants"]
    spec = importlib.util.find_spec("ants")
    if spec is None:
        raise ModuleNotFoundError("No module named 'ants' (install antspyx)", name="ants")
    package = importlib.util.module_from_spec(spec)
    loaded = {"rest": False}

    def missing(name: str):
        # a name from a subpackage not loaded: load them all, as `import ants` would have. A
        # module of the package not imported yet is not one (`from ants import lib` asks first)
        if name == "__version__":
            return importlib.metadata.version("antspyx")
        if loaded["rest"] or name.startswith("__") or importlib.util.find_spec(f"ants.{name}"):
            raise AttributeError(f"module 'ants' has no attribute {name!r}")
        loaded["rest"] = True
        # the __init__'s order, so that a later subpackage's name wins as it does there
        _import_subpackages(package, ALL)
        return getattr(package, name)

    package.__getattr__ = missing
    sys.modules["ants"] = package
    try:
        _import_subpackages(package, CALLED)
    except BaseException:
        del sys.modules["ants"]
        raise
    return package


@contextlib.contextmanager
def seeded(seed: int = RANDOM_SEED):
    """ANTs registrations inside draw their random samples from ``seed``."""
    load()
    import ants.config  # ANTsPy's registration() reads its module-level seed

    previous = ants.config._random_seed
    ants.config._random_seed = seed
    try:
        yield
    finally:
        ants.config._random_seed = previous
