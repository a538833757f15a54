"""The declared software matches the code: envs/atrophy.yaml (the conda route) and pyproject.toml
(the pip route) list every third-party import of src/brain_atrophy/ and scripts/, and neither
lists what no code imports; and scripts find the package the one way rules/common.smk sets up.

Conda channels cannot be reached from CI, so the environment file is never built here; this
static check is what keeps it from drifting.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ENV_FILE = ROOT / "envs" / "atrophy.yaml"
PYPROJECT = ROOT / "pyproject.toml"
OWN_PACKAGE = "brain_atrophy"

# Import name -> distribution name, for when the distribution is not installed here (so
# importlib.metadata cannot tell) and for the usual cases where the two differ.
IMPORT_TO_DISTRIBUTION = {
    "PIL": "pillow",
    "yaml": "pyyaml",
    "sklearn": "scikit-learn",
    "skimage": "scikit-image",
    "isal": "isal",
    "ants": "antspyx",
    "zlib_ng": "zlib-ng",
    "cv2": "opencv-python",
    "bs4": "beautifulsoup4",
    "dateutil": "python-dateutil",
}

# Distribution name -> the conda-forge package names that provide it, where they differ.
CONDA_NAMES = {
    "matplotlib": {"matplotlib", "matplotlib-base"},
    "isal": {"python-isal"},
    "zlib-ng": {"python-zlib-ng"},
}

# Imports the code does without: each is guarded by `except ImportError` and has a fallback.
OPTIONAL_IMPORTS = {
    # images.py: the second-choice gzip decoder, tried only when isal (a dependency) is missing
    "zlib_ng",
}

# Listed although no code imports them.
ENV_RUNTIME_ONLY = {
    # the interpreter Snakemake runs the scripts with in this environment; pinned on purpose
    "python",
}
PYPROJECT_RUNTIME_ONLY = {
    # the workflow engine: `pip install -e .` (make setup) is how the local route gets it; the
    # code never imports it (scripts receive the `snakemake` object from Snakemake's preamble)
    "snakemake",
}


def normalize(name: str) -> str:
    """PEP 503 normalized distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def code_files() -> list[Path]:
    return sorted((ROOT / "src" / OWN_PACKAGE).rglob("*.py")) + sorted((ROOT / "scripts").glob("*.py"))


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError") for n in names)


def imported_modules(source: str) -> tuple[set[str], set[str]]:
    """Top-level names of every absolute import in the source, at any depth (functions, try
    blocks), and the subset imported inside a `try` that catches ImportError."""
    tree = ast.parse(source)
    every, guarded = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            every.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            every.add(node.module.partition(".")[0])
        elif isinstance(node, ast.Try) and any(_catches_import_error(h) for h in node.handlers):
            for statement in node.body:
                guarded |= imported_modules(ast.unparse(statement))[0]
    return every, guarded


def third_party_imports() -> tuple[dict[str, list[str]], set[str]]:
    """{import name: files importing it} outside the standard library and the package itself,
    and the names imported under an ImportError guard somewhere."""
    found: dict[str, list[str]] = {}
    guarded: set[str] = set()
    for path in code_files():
        every, optional = imported_modules(path.read_text(encoding="utf-8"))
        guarded |= optional
        for name in every - set(sys.stdlib_module_names) - {OWN_PACKAGE}:
            found.setdefault(name, []).append(str(path.relative_to(ROOT)))
    return found, guarded


@functools.cache
def installed_distributions() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def distributions(import_name: str) -> set[str]:
    """Normalized names of the distributions that provide an import name."""
    installed = installed_distributions().get(import_name)
    if installed:
        return {normalize(d) for d in installed}
    if import_name in IMPORT_TO_DISTRIBUTION:
        return {normalize(IMPORT_TO_DISTRIBUTION[import_name])}
    return set()


def conda_names(distribution: str) -> set[str]:
    return CONDA_NAMES.get(distribution, {distribution})


def env_entries(env: dict) -> tuple[set[str], set[str]]:
    """(conda package names, pip distribution names) of a conda environment file's dependencies."""
    conda, pip = set(), set()
    for entry in env.get("dependencies") or []:
        if isinstance(entry, dict):
            for spec in entry.get("pip") or []:
                match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", spec)
                assert match and not spec.lstrip().startswith("-"), f"pip entry not understood: {spec!r}"
                pip.add(normalize(match.group(1)))
        else:
            match = re.match(r"\s*(?:[^\s:]+::)?([A-Za-z0-9][A-Za-z0-9._-]*)", str(entry))
            assert match, f"conda entry not understood: {entry!r}"
            conda.add(normalize(match.group(1)))
    return conda, pip


def pyproject_entries(project: dict) -> set[str]:
    names = set()
    for spec in project["project"]["dependencies"]:
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", spec)
        assert match, f"dependency not understood: {spec!r}"
        names.add(normalize(match.group(1)))
    return names


def required(imports: dict[str, list[str]]) -> dict[str, set[str]]:
    """{import name: its distributions} for every import the code cannot do without."""
    return {name: distributions(name) for name in sorted(imports) if name not in OPTIONAL_IMPORTS}


def missing_from_env(imports: dict[str, list[str]], env: dict) -> list[str]:
    conda, pip = env_entries(env)
    problems = []
    for name, dists in required(imports).items():
        if not dists:
            problems.append(f"{name}: unknown distribution (add it to IMPORT_TO_DISTRIBUTION)")
        elif not any(conda_names(d) & conda or d in pip for d in dists):
            problems.append(
                f"{name} (imported by {', '.join(imports[name])}): no {' / '.join(sorted(dists))}"
            )
    return problems


def unused_in_env(imports: dict[str, list[str]], env: dict) -> list[str]:
    provided = set()
    for name in imports:
        for dist in distributions(name):
            provided |= conda_names(dist) | {dist}
    conda, pip = env_entries(env)
    return sorted((conda | pip) - provided - ENV_RUNTIME_ONLY)


def missing_from_pyproject(imports: dict[str, list[str]], project: dict) -> list[str]:
    listed = pyproject_entries(project)
    return [
        f"{name} (imported by {', '.join(imports[name])}): no {' / '.join(sorted(dists)) or '?'}"
        for name, dists in required(imports).items()
        if not dists & listed
    ]


def unused_in_pyproject(imports: dict[str, list[str]], project: dict) -> list[str]:
    provided = {dist for name in imports for dist in distributions(name)}
    return sorted(pyproject_entries(project) - provided - PYPROJECT_RUNTIME_ONLY)


@pytest.fixture(scope="module")
def imports():
    return third_party_imports()[0]


@pytest.fixture(scope="module")
def env():
    return yaml.safe_load(ENV_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def project():
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))


def test_the_scan_finds_the_known_imports(imports):
    # guards the scan itself: a broken walk would make every check below pass vacuously
    assert {"numpy", "nibabel", "matplotlib", "yaml"} <= set(imports)
    assert "scripts/methods.py" in imports["yaml"]
    assert OWN_PACKAGE not in imports and "json" not in imports


def test_optional_imports_are_still_optional():
    # an allowance for an import the code no longer guards would hide a real dependency
    found, guarded = third_party_imports()
    assert OPTIONAL_IMPORTS <= guarded & set(found), OPTIONAL_IMPORTS - (guarded & set(found))


def test_env_file_lists_every_import(imports, env):
    problems = missing_from_env(imports, env)
    assert not problems, "missing from envs/atrophy.yaml:\n" + "\n".join(problems)


def test_env_file_lists_nothing_unused(imports, env):
    problems = unused_in_env(imports, env)
    assert not problems, "imported by no code, yet listed in envs/atrophy.yaml:\n" + "\n".join(problems)


def test_pyproject_lists_every_import(imports, project):
    problems = missing_from_pyproject(imports, project)
    assert not problems, "missing from pyproject.toml [project] dependencies:\n" + "\n".join(problems)


def test_pyproject_lists_nothing_unused(imports, project):
    problems = unused_in_pyproject(imports, project)
    assert not problems, (
        "imported by no code, yet listed in pyproject.toml [project] dependencies:\n" + "\n".join(problems)
    )


def test_the_checks_can_fail(imports, env, project):
    """A dropped entry and a stray one are both reported, in each file."""
    dropped = {**env, "dependencies": [d for d in env["dependencies"] if not str(d).startswith("pyyaml")]}
    assert [p for p in missing_from_env(imports, dropped) if p.startswith("yaml ")]
    stray = {**env, "dependencies": [*env["dependencies"], "scikit-learn >=1.4", {"pip": ["requests"]}]}
    assert unused_in_env(imports, stray) == ["requests", "scikit-learn"]
    deps = [d for d in project["project"]["dependencies"] if not d.startswith("isal")]
    assert [
        p
        for p in missing_from_pyproject(imports, {"project": {"dependencies": deps}})
        if p.startswith("isal ")
    ]
    with_stray = {"project": {"dependencies": [*deps, "requests>=2"]}}
    assert unused_in_pyproject(imports, with_stray) == ["requests"]


def test_imports_inside_functions_and_guards_are_seen():
    every, guarded = imported_modules(
        textwrap.dedent(
            """
            import os.path
            from . import sibling
            def f():
                from sklearn.linear_model import Ridge
            try:
                import zlib_ng.zlib_ng
            except (ImportError, OSError):
                pass
            """
        )
    )
    assert every == {"os", "sklearn", "zlib_ng"} and guarded == {"zlib_ng"}


def test_scripts_carry_no_path_code():
    """One way to find the package (below): rules/common.smk's, none of the scripts' own."""
    offenders = [p.name for p in sorted((ROOT / "scripts").glob("*.py")) if "sys.path" in p.read_text()]
    assert not offenders, f"scripts with their own sys.path code: {offenders}"
    assert (ROOT / "rules" / "common.smk").read_text().count("sys.path.insert") == 1


@pytest.mark.slow
def test_scripts_find_the_package_through_snakemakes_search_path(tmp_path):
    """How scripts import brain_atrophy with no path code of their own, under any interpreter
    (the conda environment's too): rules/common.smk puts src/ on Snakemake's sys.path at parse
    time, and Snakemake's script preamble appends its sys.path to every script's. A probe
    package that is not installed anywhere stands in for brain_atrophy."""
    (tmp_path / "src" / "probe_package").mkdir(parents=True)
    (tmp_path / "src" / "probe_package" / "__init__.py").write_text("")
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "probe.py").write_text(
        "import probe_package\n\nopen(snakemake.output[0], 'w').write(probe_package.__file__)\n"
    )
    (tmp_path / "Snakefile").write_text(
        textwrap.dedent(
            """
            import sys
            from pathlib import Path

            sys.path.insert(0, str(Path(workflow.basedir) / "src"))


            rule probe:
                output:
                    "found.txt",
                script:
                    "scripts/probe.py"
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", "--snakefile", "Snakefile"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    found = Path((tmp_path / "found.txt").read_text()).resolve()
    assert found.parent.parent == (tmp_path / "src").resolve()
