"""A finished tiny study tampered with as a careless or hostile user would: each change is
refused where the file is next read, by the verification command, or by the report."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import OUT, copy_of, copy_with_record, local_env, snakemake

from enfopath.io import sha256, sidecar

pytestmark = pytest.mark.workflow


def reseal(path: Path) -> None:
    """Recompute the sha256 of ``path``'s record after changing it, keeping the rest of the
    record: what someone who knows the sidecar format does."""
    lines = sidecar(path).read_text().split("\n", 1)
    sidecar(path).write_text(f"{sha256(path)}  {path.name}\n{lines[1]}")


def verify_command(workdir: Path, *folders: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "enfopath.io", *folders],
        cwd=workdir,
        capture_output=True,
        text=True,
        env=local_env(),
    )


def test_a_reference_file_copied_over_another_with_its_record_stops_the_density_stage(
    study, tmp_path
):
    """pixels_radii.npz and its sidecar over classifier_radii.npz: the density jobs reran
    silently with the pixel radii in classifier space; now the first reader names the file."""
    workdir = copy_of(study, tmp_path)
    index = workdir / OUT / "index"
    copy_with_record(index / "pixels_radii.npz", index / "classifier_radii.npz")
    run = snakemake(workdir, "--cores", "1", f"{OUT}/density/shard_0.parquet")
    assert run.returncode != 0
    log = (workdir / OUT / "logs/density_shard/0.log").read_text()
    assert "classifier_radii.npz: its checksum record" in log
    assert "written for a file named pixels_radii.npz" in log


def test_a_resealed_table_is_refused_by_the_job_that_reads_it_with_what_it_was_made_from(
    study, tmp_path
):
    """samples.parquet changed and its sha256 recomputed: the figure that reads it with the
    correlations made from the original refuses both, naming the stale one."""
    workdir = copy_of(study, tmp_path)
    table = workdir / OUT / "samples.parquet"
    when = table.stat()
    df = pd.read_parquet(table)
    df["kpe"] = df["kpe"][::-1].to_numpy()
    df.to_parquet(table, index=False)
    reseal(table)
    os.utime(table, ns=(when.st_atime_ns, when.st_mtime_ns))  # Snakemake sees no change
    figure = f"{OUT}/figures/kpe_vs_density.png"
    run = snakemake(workdir, "--cores", "1", figure, "--forcerun", figure)
    assert run.returncode != 0
    log = (workdir / OUT / "logs/figure/kpe_vs_density.log").read_text()
    assert "correlations.csv was made from results/tiny/samples.parquet" in log
    assert "is stale or was replaced" in log


def test_the_finished_study_verifies_against_its_inventory(study, tmp_path):
    """The issue's cases: a deleted sidecar was skipped ("48 of 48 verified") and a folder
    that does not exist gave "0 of 0 verified" with exit 0."""
    run = verify_command(study, OUT)
    assert run.returncode == 0, run.stderr
    assert f"{OUT}: " in run.stdout and "files of the finished study verified" in run.stdout
    listed = pd.read_json(study / OUT / "inventory.json", typ="series")["files"]
    for name in ("models/flow.pt", "trajectories/shard_1.npz", "figures/kpe_hist.png"):
        assert name in listed
    workdir = copy_of(study, tmp_path)
    sidecar(workdir / OUT / "models/flow.pt").unlink()
    run = verify_command(workdir, OUT)
    assert run.returncode == 1
    assert "flow.pt: its checksum record flow.pt.sha256 is missing" in run.stderr
    missing = verify_command(workdir, "results/no_such_study")
    assert missing.returncode == 1 and "no such study folder" in missing.stderr


def test_the_report_refuses_a_tampered_table(study, tmp_path):
    workdir = copy_of(study, tmp_path)
    report = tmp_path / "report.html"
    groups = workdir / OUT / "statistics/groups.csv"
    groups.write_text(groups.read_text().replace("0.", "1.", 3))
    run = snakemake(workdir, "--cores", "1", "--report", str(report))
    assert run.returncode != 0 and not report.exists()
    said = run.stdout + run.stderr
    assert "the report is not built" in said and "groups.csv" in said
    reseal(groups)  # resealed: the inventory still knows
    run = snakemake(workdir, "--cores", "1", "--report", str(report))
    assert run.returncode != 0 and not report.exists()
    assert "groups.csv: changed since the study finished" in run.stdout + run.stderr
