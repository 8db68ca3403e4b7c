"""Project-level checks: the README example runs, the pins agree, the code is clean."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _pins(lines: list[str]) -> dict[str, str]:
    pins = {}
    for line in lines:
        m = re.match(r"^\s*([A-Za-z0-9_.\-]+)==(\S+)\s*$", line)
        if m:
            pins[m.group(1).lower()] = m.group(2)
    return pins


def test_readme_library_example_runs():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## The library on its own\s+```python\n(.*?)```", text, re.S).group(1)
    exec(compile(block, "README.md", "exec"), {})


def test_readme_training_monitor_example_runs(capsys):
    text = (ROOT / "README.md").read_text()
    block = re.search(r"### KPE as a training monitor\s.*?```python\n(.*?)```", text, re.S).group(1)
    exec(compile(block, "README.md", "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["200", "400", "600"]
    assert all("KPE" in line and "excess" in line for line in lines)


def test_readme_starts_with_the_two_make_commands():
    text = (ROOT / "README.md").read_text()
    first = re.search(r"```bash\n(.*?)```", text, re.S).group(1).splitlines()
    assert [line.split("#")[0].strip() for line in first] == ["make run", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_conda_env_mirrors_the_pip_pins():
    env = yaml.safe_load((ROOT / "envs" / "enfopath.yaml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    post_deploy = (ROOT / "envs" / "enfopath.post-deploy.sh").read_text()
    conda_pins = _pins(pip_section) | _pins(re.findall(r"--no-deps (\S+==\S+)", post_deploy))
    pip_pins = _pins(
        (ROOT / "requirements.txt").read_text().splitlines()
        + (ROOT / "requirements-nodeps.txt").read_text().splitlines()
    )
    dev_only = {"snakemake", "snakemake-executor-plugin-slurm", "pytest", "ruff", "snakefmt"}
    dev_only |= {"pytest-xdist", "execnet"}  # the suite's workers
    dev_only |= {"torchmetrics"}  # a test's reference only
    dev_only |= {"selenium"}  # the browser test's driver
    assert conda_pins == {k: v for k, v in pip_pins.items() if k not in dev_only}


def test_ruff_is_clean():
    out = subprocess.run([BIN / "ruff", "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout


def test_snakefmt_is_clean():
    out = subprocess.run(
        [BIN / "snakefmt", "--check", "Snakefile", "rules"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr


def test_make_clean_deletes_one_named_experiment_only(tmp_path):
    for name in ("a", "b"):
        (tmp_path / "results" / name).mkdir(parents=True)
    make = ["make", "-f", str(ROOT / "Makefile"), "-C", str(tmp_path), "clean"]
    refused = subprocess.run(make, capture_output=True, text=True)
    assert refused.returncode != 0 and "EXPERIMENT=<name>" in refused.stdout
    assert "a b" in refused.stdout
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == ["a", "b"]
    done = subprocess.run([*make, "EXPERIMENT=a"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert [p.name for p in (tmp_path / "results").iterdir()] == ["b"]


def test_the_base_install_is_the_light_core_and_the_study_is_an_extra():
    """``pip install .`` gives the core (torch, torchdiffeq, numpy, scipy); ``[study]`` adds every
    other runtime package that requirements*.txt pin (the README's commands install those)."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {d.lower() for d in project["dependencies"]}
    assert core == {"torch", "torchdiffeq", "numpy", "scipy"}
    study = {d.lower() for d in project["optional-dependencies"]["study"]}
    pins = _pins(
        (ROOT / "requirements.txt").read_text().splitlines()
        + (ROOT / "requirements-nodeps.txt").read_text().splitlines()
    )
    tools = {"pytest", "ruff", "snakefmt", "snakemake-executor-plugin-slurm", "torchvision"}
    tools |= {"torchmetrics", "pytest-xdist", "execnet"}  # a test's reference, the workers
    tools |= {"selenium"}  # the browser test's driver
    assert set(pins) - tools - core == study
