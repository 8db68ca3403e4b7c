"""The tiny study on a real single-node SLURM (Debian's packages) through the project's profile.

CI installs slurmctld, slurmd, slurm-client and munge (.ci/run); elsewhere the test is skipped
when they are missing. tests/slurm/cluster.sh starts and stops the cluster's daemons.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import OUT, ROOT, SNAKEMAKE, TINY, write_config

pytestmark = pytest.mark.workflow
CLUSTER = ROOT / "tests" / "slurm" / "cluster.sh"
NEEDED = ("slurmctld", "slurmd", "sbatch", "squeue", "munged")


@pytest.fixture(scope="module")
def slurm(tmp_path_factory) -> dict[str, str]:
    """Environment of a running single-node cluster; its daemons are stopped afterwards."""
    missing = [b for b in NEEDED if shutil.which(b) is None]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI must install SLURM; missing {missing}")
        pytest.skip(f"SLURM is not installed here (missing {missing})")
    state = tmp_path_factory.mktemp("slurm")
    subprocess.run(["bash", CLUSTER, "start", state], check=True, timeout=120)
    env = dict(os.environ, SLURM_CONF=str(state / "etc" / "slurm.conf"))
    yield env
    subprocess.run(["bash", CLUSTER, "stop", state], check=True, timeout=120)


def _requests(env: dict[str, str]) -> dict[str, str]:
    """The TRES each submitted rule asked for, as slurmctld recorded it (by job comment)."""
    out = subprocess.run(
        ["scontrol", "show", "job", "-o"], env=env, capture_output=True, text=True, check=True
    ).stdout
    requests: dict[str, str] = {}
    for line in out.splitlines():
        fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
        rule = fields.get("Comment", "").split("_wildcards_")[0]  # rule_<name>[_wildcards_…]
        tres = fields.get("TresPerJob", "") + " " + fields.get("TresPerNode", "")
        requests[rule] = requests.get(rule, "") + " " + tres
    return requests


def test_cluster_harness_is_idempotent(slurm, tmp_path_factory):
    state = Path(slurm["SLURM_CONF"]).parents[1]
    again = subprocess.run(["bash", CLUSTER, "start", state], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    status = subprocess.run(["bash", CLUSTER, "status", state], capture_output=True, text=True)
    assert status.stdout.split() == [
        "munged",
        "running",
        "slurmctld",
        "running",
        "slurmd",
        "running",
    ]


def test_study_on_slurm_equals_the_local_run(slurm, tmp_path, study):
    write_config(tmp_path / "config.yaml", TINY)
    cmd = [
        "timeout",
        "-k",
        "10",
        "900",
        SNAKEMAKE,
        "--snakefile",
        ROOT / "Snakefile",
        "--directory",
        tmp_path,
        "--profile",
        ROOT / "profiles" / "slurm",
        "--slurm-status-command",
        "squeue",
        "--slurm-init-seconds-before-status-checks",
        "1",
        "--seconds-between-status-checks",
        "2",
        "--verbose",
    ]
    run = subprocess.run(cmd, env=slurm, capture_output=True, text=True, timeout=960)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-5000:]
    # every job went through sbatch: GPU rules with a GPU request, shards as one array,
    # and each shard's CPU stages as one group job
    assert "--gpus=1" in log or "--gres=gpu:1" in log
    assert "Submitted array job" in log
    assert "group_shard_cpu_0" in log and "group_shard_cpu_1" in log
    requests = _requests(slurm)
    gpu_rules = {rule for rule, tres in requests.items() if "gpu:1" in tres}
    assert {"rule_train_flow", "rule_train_classifier", "rule_generate_shard"} <= gpu_rules
    assert "rule_statistics" in requests and "rule_statistics" not in gpu_rules
    local = pd.read_parquet(study / OUT / "samples.parquet")
    remote = pd.read_parquet(tmp_path / OUT / "samples.parquet")
    energy = ["sample", "kpe", "kpe_early", "kpe_late", "path_length", "nfe"]
    pd.testing.assert_frame_equal(remote[energy], local[energy], check_exact=True)
    numeric = local.select_dtypes("number").columns
    np.testing.assert_allclose(remote[numeric], local[numeric], rtol=1e-5, atol=1e-6)
