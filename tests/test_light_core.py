"""The light core: what importing the library, building the DAG and each job load."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest
from conftest import ROOT, local_env

HEAVY = (
    "matplotlib",
    "seaborn",
    "faiss",
    "open_clip",
    "diffusers",
    "transformers",
    "timm",
    "torchcfm",
    "pandas",
    "sklearn",
    "pyarrow",
)
"""The study's stack: none of it is loaded by the core library."""


def loaded_after(code: str) -> set[str]:
    """Top-level modules in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    probe = f"{code}\nimport sys\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    run = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(run.stdout.split())


def test_importing_the_package_loads_nothing_heavy():
    loaded = loaded_after("import enfopath")
    assert not loaded & {*HEAVY, "torch", "torchdiffeq", "numpy", "scipy"}


@pytest.mark.parametrize(
    "code",
    [
        "from enfopath import sample_with_energy",
        "import enfopath.energy, enfopath.grids, enfopath.velocity, enfopath.seeding",
        "import enfopath.analytic",
        "import enfopath.monitor",
        "import enfopath.models.plugin",
        "import enfopath.energy, enfopath.cli",  # the command line loads its stack when run
    ],
)
def test_the_core_loads_torch_torchdiffeq_and_numpy_only(code):
    loaded = loaded_after(code)
    assert {"torch", "numpy"} <= loaded
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_nothing_sets_a_matplotlib_backend_on_import():
    code = "import matplotlib\nimport enfopath.study.figures\nprint(matplotlib.get_backend())"
    run = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**local_env(), "MPLBACKEND": "svg"},
    )
    assert run.stdout.split()[-1] == "svg"


def test_building_the_dag_imports_no_torch_scipy_or_seaborn(tmp_path):
    """``snakemake -n`` on the default config: the rules need only the config validation and
    the figure names (``python -X importtime`` lists every module the process imported)."""
    run = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "snakemake",
            "-n",
            "--cores",
            "1",
            "--snakefile",
            ROOT / "Snakefile",
            "--directory",
            tmp_path,
            "--configfile",
            ROOT / "config.yaml",
        ],
        capture_output=True,
        text=True,
        env=local_env(),
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "generate_shard" in run.stdout
    imported = {
        line.split("|")[-1].strip().split(".")[0]
        for line in run.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "yaml" in imported  # the probe sees the imports
    assert not imported & {"torch", "scipy", "seaborn", "matplotlib", "faiss", "sklearn"}


JOB_LOADS_NOT = {
    "kpe_shard": {"torch", "scipy", "faiss"},
    "merge_samples": {"torch", "scipy", "faiss"},
    "density_shard": {"torch", "scipy"},
    "summary": {"torch", "scipy", "faiss"},
    "fetch_asset": {"torch", "pandas", "scipy"},
    "statistics": {"torch", "faiss"},
    "partial_correlations": {"torch", "faiss"},
    "early_prediction": {"torch", "faiss"},
    "memorization": {"torch", "faiss"},
    "robustness": {"torch", "faiss"},
    "figure": {"torch", "faiss"},
    "prepare_data": {"torch"},
    "train_classifier": {"torchcfm", "sklearn", "timm"},
    "generate_shard": {"timm", "open_clip", "diffusers", "faiss", "sklearn"},
    "features_shard": {"timm", "open_clip", "diffusers", "torchcfm", "sklearn"},
}
"""Modules a job of each rule must not load at import: it pays only for what it uses."""


@pytest.mark.parametrize("script", sorted(JOB_LOADS_NOT))
def test_each_job_imports_only_what_it_uses(script):
    source = (ROOT / "workflow_scripts" / f"{script}.py").read_text()
    imports = source.split("sm = snakemake")[0]  # everything a job runs before its work
    code = f"import sys\nsys.path.append({str(ROOT / 'workflow_scripts')!r})\n{imports}"
    loaded = loaded_after(code)
    assert not loaded & JOB_LOADS_NOT[script], sorted(loaded & JOB_LOADS_NOT[script])


LAYERS = {"core": 0, "models": 1, "measures": 2, "study": 3, "cli": 4, "__main__": 4}
"""The package's layers: a module may import its own layer and those below it only (the command
line, ``enfopath.cli`` and ``python -m enfopath``, on top of all)."""


def layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS.get(parts[1], 0) if len(parts) > 1 else 0


def test_imports_go_one_way_core_models_measures_study():
    package = ROOT / "enfopath"
    wrong = []
    for path in package.rglob("*.py"):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                if name.startswith(("_common", "workflow_scripts", "snakemake")):
                    wrong.append(f"{module} imports workflow code {name}")
                if name.startswith("enfopath.") and layer(name) > layer(module):
                    wrong.append(f"{module} imports {name}")
    assert not wrong, wrong


def _is_main_block(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.If)
        and isinstance(node.test, ast.Compare)
        and isinstance(node.test.left, ast.Name)
        and node.test.left.id == "__name__"
    )


def test_no_module_of_the_library_imports_itself_round_a_circle():
    """Every import of one enfopath module by another, at the top or inside a function, forms
    no cycle (a circle hides which module is the lower one). A module's ``if __name__ ==
    "__main__":`` block is its command-line entry, run as a script, not part of the graph."""
    package = ROOT / "enfopath"
    modules = {
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
        for p in package.rglob("*.py")
    }
    edges: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        tree = ast.parse(path.read_text())
        tree.body = [n for n in tree.body if not _is_main_block(n)]
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            edges[module] |= {n for n in names if n in modules and n != module}
    cycles, done, path = [], set(), []

    def visit(m: str) -> None:
        if m in path:
            cycles.append(" → ".join([*path[path.index(m) :], m]))
            return
        if m in done:
            return
        path.append(m)
        for n in sorted(edges[m]):
            visit(n)
        path.pop()
        done.add(m)

    for m in sorted(edges):
        visit(m)
    assert not cycles, cycles


def test_the_library_cites_the_science_notes_of_this_repository():
    """Docstrings point at docs/science.md (in the repository), never at the team's notes."""
    notes = "SCIENCE" + ".md"
    citing = []
    for path in sorted((ROOT / "enfopath").rglob("*.py")):
        text = path.read_text()
        assert notes not in text, f"{path} cites {notes}, which is not in the repository"
        citing += [path.name] if "docs/science.md" in text else []
    assert (ROOT / "docs" / "science.md").is_file()
    assert {"energy.py", "density.py", "correlation.py", "analytic.py"} <= set(citing)
