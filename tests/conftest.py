"""Shared fixtures: the repository root and a tiny study configuration."""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
OUT = "results/tiny"


def local_env() -> dict[str, str]:
    """The environment of local (non-SLURM) Snakemake runs, read at the call (a test may set
    PYTHONPATH): the SLURM plugin's start-up probe of `scontrol` answers at once instead of
    waiting ~9 s for a controller (see tests/no_slurm)."""
    path = os.pathsep.join([str(ROOT / "tests" / "no_slurm"), os.environ.get("PATH", "")])
    return {**os.environ, "PATH": path}


TINY: dict[str, Any] = {
    "experiment": "tiny",
    "seed": 3,
    "flow": {"hidden": 32, "depth": 1, "time_features": 8, "steps": 40, "batch_size": 64},
    "classifier": {"epochs": 40},
    "sampling": {"n_samples": 96, "shard_size": 48, "batch_size": 16, "profile_points": 5},
    "density": {"k": [2, 3]},
    "figures": {"grid_samples": 9},
    "robustness": {
        "n_samples": 32,
        "settings": [
            {"solver": "euler", "steps": 8},
            {"solver": "heun", "steps": 4},
            {"solver": "rk4", "steps": 4},
            {"solver": "dopri5", "rtol": 1e-5, "atol": 1e-5},  # the study's own solver
        ],
        "reference": {"solver": "dopri5", "rtol": 1e-6, "atol": 1e-6},
    },
    "early_rejection": {"check_times": [0.2, 0.5], "shares": [0.25, 0.5], "random_draws": 20},
}


CORE_STAGES_ONLY: dict[str, Any] = {
    "robustness": {"enabled": False},
    "schedules": {"enabled": False},
    "early_rejection": {"enabled": False},
    "statistics": {
        "partial_controls": [],
        "early_prediction": False,
        "prdc": False,
        "fidelity": False,
    },
}
"""The optional stages off: for a study that tests something else (a copy each: validation
fills the sections in place)."""


def core_stages_only(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` with :data:`CORE_STAGES_ONLY`'s sections (copies)."""
    return config | copy.deepcopy(CORE_STAGES_ONLY)


@pytest.fixture
def tiny_config() -> dict[str, Any]:
    """A copy of the tiny study's config (unvalidated), for tests to modify."""
    return copy.deepcopy(TINY)


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config))
    return path


def copy_of(study: Path, tmp_path: Path) -> Path:
    """A copy of a finished study's working directory, for a test that breaks it."""
    workdir = tmp_path / "copy"
    shutil.copytree(study, workdir, symlinks=True)
    return workdir


def copy_with_record(source: str | Path, dest: str | Path) -> None:
    """Copy a workflow file together with its checksum record (sidecar), as a user might."""
    for suffix in ("", ".sha256"):
        shutil.copy(f"{source}{suffix}", f"{dest}{suffix}")


def snakemake(workdir: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run the project's Snakefile in ``workdir`` (locally)."""
    cmd = [SNAKEMAKE, "--snakefile", ROOT / "Snakefile", "--directory", workdir, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=local_env())


def job_counts(stdout: str) -> dict[str, int]:
    """Jobs per rule in the "Job stats" table of a Snakemake (dry) run."""
    table = stdout[stdout.index("Job stats:") :]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


def shipped_study_files(name: str) -> list[Path]:
    """The config files of the shipped study ``configs/<name>`` as the README runs it: an
    overlay of config.yaml (the I-CFM one over cifar10.yaml, the empirical flow's eps variants
    over digits_empirical.yaml)."""
    files = [ROOT / "config.yaml"]
    if name == "cifar10_icfm.yaml":
        files.append(ROOT / "configs/cifar10.yaml")
    if name.startswith("digits_empirical_eps"):
        files.append(ROOT / "configs/digits_empirical.yaml")
    return [*files, ROOT / "configs" / name]


SHIPPED_STUDIES = sorted(p.name for p in (ROOT / "configs").glob("*.yaml"))
"""The study files of configs/."""


def assert_declared_keys_read(workdir: Path) -> int:
    """Every job of the finished study in ``workdir`` read every config key its entry in
    ``enfopath/study/jobs.py`` declares (it can read no other: the slice holds only those): no
    job log lists a key declared but not read. Returns the number of jobs that read a slice."""
    logs = sorted(Path(workdir).glob("results/*/logs/**/*.log"))
    assert logs, f"no job logs under {workdir}"
    for log in logs:
        text = log.read_text()
        assert "config keys declared but not read" not in text, f"{log}: {text[-1500:]}"
    return sum("config keys read: all" in log.read_text() for log in logs)


def assert_report_renders(html: str) -> None:
    """A Snakemake report with no docutils error box (System Message, ERROR/n)."""
    for bad in ("System Message", "ERROR/"):
        assert bad not in html, html[max(0, html.find(bad) - 500) : html.find(bad) + 300]


@pytest.fixture(scope="session")
def study(tmp_path_factory) -> Path:
    """A finished tiny study run locally (its working directory); tests that break it copy it."""
    workdir = tmp_path_factory.mktemp("study")
    write_config(workdir / "config.yaml", TINY)
    run = snakemake(workdir, "--cores", "2")
    assert run.returncode == 0, run.stderr[-5000:]
    return workdir
