"""The real Snakemake DAG on a tiny config: outputs, report, reruns, lint and bad input."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import torch
import yaml
from conftest import (
    OUT,
    ROOT,
    SNAKEMAKE,
    TINY,
    assert_declared_keys_read,
    assert_report_renders,
    copy_of,
    copy_with_record,
    job_counts,
    local_env,
    snakemake,
    write_config,
)

import enfopath
from enfopath.io import read_npz, sha256, write_npz, write_parquet
from enfopath.measures.groups import kpe_groups
from enfopath.monitor import QUANTILES
from enfopath.study.config import load_config
from enfopath.study.figure_names import PLANE_FIGURES
from enfopath.study.figures import FIGURES

TINY_FIGURES = [
    name
    for name in FIGURES
    if name not in ("comparison", "replicates", "ladder", "prompt_effects", *PLANE_FIGURES)
]
"""The tiny study's figures: all but the comparison with a baseline study (none here), the
replicate flows' and the checkpoint ladder's (none here), a text-to-image study's prompt
analyses and the figures of a 2-D study."""

pytestmark = pytest.mark.workflow
N_SHARDS = TINY["sampling"]["n_samples"] // TINY["sampling"]["shard_size"]


def declared_outputs() -> list[str]:
    per_shard = [
        "trajectories/shard_{}.npz",
        "kpe/shard_{}.parquet",
        "semantics/shard_{}.parquet",
        "features/shard_{}.npz",
        "density/shard_{}.parquet",
    ]
    spaces = ["features/train_{}.npz", "index/{}.faiss", "index/{}_radii.npz"]
    files = [
        "data/dataset.npz",
        "models/flow.pt",
        "models/flow_losses.csv",
        "models/flow_kpe.csv",
        "models/classifier.pt",
        "models/classifier_metrics.json",
        "samples.parquet",
        "statistics/correlations.csv",
        "statistics/groups.csv",
        "statistics/class_composition.csv",
        "statistics/quantile_curves.csv",
        "statistics/summary.csv",
        "statistics/summary.json",
        "statistics/statistics.json",
        "statistics/partial_correlations.csv",
        "statistics/early_prediction.csv",
        "statistics/memorization.csv",
        "statistics/prdc.csv",
        "statistics/fidelity.csv",
        "statistics/robustness.csv",
        "statistics/schedules.csv",
        "schedules/runs.parquet",
        "statistics/early_rejection.csv",
        "early_rejection/partial.parquet",
        "early_rejection/compute.parquet",
        "grids/calibration.npz",
        "statistics/robustness_correlations.csv",
        "robustness/runs.parquet",
        "robustness/endpoints.npz",
        "robustness/scores.parquet",
        *(p.format(s) for p in per_shard for s in range(N_SHARDS)),
        *(p.format(s) for p in spaces for s in ("pixels", "classifier")),
        *(f"figures/{name}.png" for name in TINY_FIGURES),
        "inventory.json",
    ]
    return [f"{OUT}/{f}" for f in files]


def test_every_declared_output_exists(study):
    for f in declared_outputs():
        assert (study / f).stat().st_size > 0, f
    assert not list(study.rglob("*.partial"))
    for rule_log in ("prepare_data", "train_flow", "statistics", "generate_shard/0"):
        assert (study / OUT / "logs" / f"{rule_log}.log").exists()
        assert (study / OUT / "benchmarks" / f"{rule_log}.tsv").exists()
    nothing = snakemake(study, "--cores", "1", "-n")
    assert "Nothing to be done" in nothing.stdout + nothing.stderr


def test_merged_table_and_statistics(study):
    df = pd.read_parquet(study / OUT / "samples.parquet")
    assert list(df["sample"]) == list(range(TINY["sampling"]["n_samples"]))
    assert not df.nonfinite.any()
    assert (df.kpe > 0).all() and (df.straightness > -1e-4).all()
    np.testing.assert_allclose(df.kpe_early + df.kpe_late, df.kpe, rtol=1e-5)
    assert {"clf_margin", "pixels_d2", "classifier_naeem3", "pixels_kde_logdens"} <= set(df)
    assert len([c for c in df if c.startswith("speed_sq_t")]) == TINY["sampling"]["profile_points"]
    assert ((df.out_of_range >= 0) & (df.out_of_range <= 1)).all()
    assert not df.pixels_exact_copy.any()
    corr = pd.read_csv(study / OUT / "statistics/correlations.csv")
    assert set(corr.energy) == {"kpe", "kpe_early", "kpe_late"}  # kpe_per_dim ranks as kpe
    assert not corr.measure.str.fullmatch(r"(pixels|classifier)_d\d+").any()  # as −D log d_k
    assert {"pixels_knn_logdens2", "pixels_d1_d2", "pixels_kde_logdens"} <= set(corr.measure)
    assert {"spearman_q", "pearson_q"} <= set(corr)
    assert "mannwhitney_q" in pd.read_csv(study / OUT / "statistics/groups.csv")
    # the class composition of each group: its classes' counts add up to the group, and the
    # Fisher test of one class is scipy's on the 2 × 2 table of the merged samples
    comp = pd.read_csv(study / OUT / "statistics/class_composition.csv")
    ok = df[~df.nonfinite]
    for _, rows in comp.groupby(["energy", "group"]):
        chi, per_class = rows[rows["class"].isna()], rows[rows["class"].notna()]
        assert len(chi) == 1 and per_class["count"].sum() == chi["count"].iloc[0]
        assert set(per_class["class"]) == set(ok.clf_class)
    quantile = load_config(study / "config.yaml")["statistics"]["group_quantile"]
    low = kpe_groups(ok.kpe, quantile) == "low"
    row = comp[(comp.energy == "kpe") & (comp.group == "low") & comp["class"].notna()].iloc[0]
    in_class = ok.clf_class == row["class"]
    table = pd.crosstab(in_class, low).loc[[True, False], [True, False]].to_numpy().T
    assert row.p == pytest.approx(scipy.stats.fisher_exact(table).pvalue)
    assert row["count"] == (in_class & low).sum()
    constant = [m for m in corr.measure.unique() if df.loc[~df.nonfinite, m].nunique() == 1]
    defined = ~corr.measure.isin(constant)  # a constant measure has no correlation (NaN)
    assert corr.spearman_rho[~defined].isna().all()
    assert corr[defined].spearman_rho_ci_low.le(corr[defined].spearman_rho_ci_high).all()
    summary = pd.read_csv(study / OUT / "statistics/summary.csv").set_index("key").value
    assert summary["n_nonfinite_excluded"] == "0"
    assert float(summary["classifier_test_accuracy"]) >= 0.95
    assert summary["enfopath_version"] == enfopath.__version__
    assert re.fullmatch(r"[0-9a-f]{40}(\+dirty)?", summary["git_commit"])
    assert 0 < float(summary["generated_mean_confidence"]) <= 1
    assert summary["n_exact_copies_pixels"] == "0"
    assert float(summary["out_of_range_mean_share"]) == pytest.approx(df.out_of_range.mean())


def test_the_training_monitor_logs_the_studys_flow_and_equals_the_study(study):
    """models/flow_kpe.csv: one row per evaluation step, its last row the saved flow's monitor
    summary; and the monitor with the study's own sampling settings and batch size on the
    study's first samples gives the study's numbers (samples.parquet)."""
    from enfopath.models.checkpoint import load_checkpoint
    from enfopath.models.flows import load_flow
    from enfopath.models.networks import flow_spec
    from enfopath.models.training import FlowMonitor
    from enfopath.monitor import kpe_monitor, monitor_noise
    from enfopath.study.shards import SamplingConfig

    config = load_config(study / "config.yaml")
    table = pd.read_csv(study / OUT / "models/flow_kpe.csv")
    assert list(table.step) == [0, TINY["flow"]["steps"]]  # every 200 > 40 steps: first, last
    assert (table.n == config["flow"]["monitor"]["n_samples"]).all()
    assert table.heldout_loss.iloc[-1] < table.heldout_loss.iloc[0]
    model, info = load_checkpoint(study / OUT / "models/flow.pt")
    x_test = torch.from_numpy(read_npz(study / OUT / "data/dataset.npz", ("x_test",))["x_test"])
    monitor = FlowMonitor.from_config(
        config["flow"]["monitor"],
        flow_spec(info["model"], info["arch"]),
        config["seed"],
        x_test,
        torch.device("cpu"),
    )
    last = monitor.summary(model).row()
    assert {k: table.iloc[-1][k] for k in last} == pytest.approx(last, rel=1e-12)
    # the monitor on the study's settings: the study's per-sample energies, summarized
    sampling = SamplingConfig.from_config(config["sampling"])
    flow, _ = load_flow(str(study / OUT / "models/flow.pt"), torch.device("cpu"))
    n = 2 * sampling.batch_size  # whole batches: a sample meets the study's dopri5 batch-mates
    s = kpe_monitor(
        flow.velocity(None),
        monitor_noise(config["seed"], n, flow.shape),
        batch_size=sampling.batch_size,
        **sampling.solver_kwargs(),
    )
    df = pd.read_parquet(study / OUT / "samples.parquet").set_index("sample").loc[: n - 1]
    assert s.kpe_mean == pytest.approx(df.kpe.astype(float).mean(), rel=1e-12)
    assert s.kpe_quantiles == pytest.approx(tuple(np.quantile(df.kpe, QUANTILES)), rel=1e-12)
    assert s.chord_energy_mean == pytest.approx(df.chord_energy.mean(), rel=1e-12)
    assert s.excess_energy_mean == pytest.approx(df.straightness.astype(float).mean(), rel=1e-12)
    assert s.nfe == pytest.approx(df.nfe.mean(), rel=1e-12)


def test_long_jobs_log_plain_progress_lines(study):
    log = (study / OUT / "logs/generate_shard/1.log").read_text()
    assert "\r" not in log
    n = TINY["sampling"]["shard_size"]
    assert re.search(rf"samples {n}/{n} \(100 %\), NFE \d+, [\d.]+ s per batch, .*ETA", log)
    assert (
        "pixels features 1437/1437 (100 %)"
        in (study / OUT / "logs/reference_index/pixels.log").read_text()
    )


def test_non_finite_samples_are_excluded_and_counted(study, tmp_path):
    workdir = copy_of(study, tmp_path)
    table = workdir / OUT / "samples.parquet"
    df = pd.read_parquet(table)
    df.loc[[3, 40], "nonfinite"] = True
    df.loc[[3, 40], ["kpe", "kpe_early"]] = np.nan
    write_parquet(table, df)
    outputs = [
        f"{OUT}/statistics/summary.csv",
        f"{OUT}/statistics/correlations.csv",
        f"{OUT}/figures/speed_profile.png",
    ]
    run = snakemake(workdir, "--cores", "2", *outputs, "--force")
    assert run.returncode == 0, run.stderr[-3000:]
    summary = pd.read_csv(workdir / OUT / "statistics/summary.csv").set_index("key").value
    assert summary["n_nonfinite_excluded"] == "2"
    assert summary["n_analysed"] == str(len(df) - 2)
    corr = pd.read_csv(workdir / OUT / "statistics/correlations.csv")
    assert (corr.n == len(df) - 2).all()


def test_report_holds_every_figure_and_table(study, tmp_path):
    # written outside the shared study, which later tests copy (a report there would be theirs)
    report = tmp_path / "report.html"
    run = snakemake(study, "--cores", "1", "--report", str(report))
    assert run.returncode == 0, run.stderr[-3000:]
    html = report.read_text(errors="ignore")
    tables = ["correlations.csv", "groups.csv", "summary.csv", "partial_correlations.csv"]
    tables += ["early_prediction.csv", "class_composition.csv"]
    for name in [*TINY_FIGURES, *tables, "flow_metrics.json"]:
        assert name in html, name
    assert_report_renders(html)
    assert "classifier margin" in html and "CLIP margin" not in html
    # page one: the study's results above the method, each linked to the figure that shows it
    assert "Results of tiny" in html and "(WARNING/" not in run.stderr
    assert html.index("Results of tiny") < html.index("<strong>Method</strong>")
    assert "showResultInfo('results/tiny/figures/kpe_vs_margin.png')" in html
    for name in tables:  # each table also as a page of the report, beside its CSV
        assert name.replace(".csv", ".html") in html, name
    assert "Study tables" in html and "Tables as CSV" in html
    for name in TINY_FIGURES:  # each figure's page, its caption under it, beside its PNG
        assert f"{name}.html" in html, name
    assert "Figure files" in html


S = N_SHARDS
TABLE_RULES = {
    "summary",
    "statistics",
    "partial_correlations",
    "early_prediction",
    "memorization",
    "prdc",
    "fidelity",
    "robustness",
    "schedules",
    "early_rejection",
}
"""The rules that write the tiny study's tables (statistics/*.csv)."""
BELOW_MERGE = {
    "merge_samples": 1,
    "summary": 1,
    "statistics": 1,
    "partial_correlations": 1,
    "early_prediction": 1,
    "memorization": 1,
    "prdc": 1,
    "fidelity": 1,
    "robustness": 1,
    "early_rejection": 1,
    "figure": len(TINY_FIGURES),
}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # generation and everything below it
        (
            {"sampling": {"tau": 0.5}},
            {
                "generate_shard": S,
                "kpe_shard": S,
                "semantics_shard": S,
                "features_shard": S,
                "density_shard": S,
                "robustness_runs": 1,
                "robustness_scores": 1,
                "schedules": 1,
                "early_rejection_runs": 1,
                **BELOW_MERGE,
            },
        ),
        # the statistics, the summary (which records it) and what reads them (the three
        # relation figures, the confound and early-prediction figures, the robustness table,
        # whose intervals and Δρ bounds come from the bootstrap, with its two figures, the
        # PRDC and schedules tables and figures), not the shards, nor the memorization stage
        # (exact intervals) nor the Fréchet stage (its own resamples, fidelity.bootstrap)
        (
            {"statistics": {"bootstrap": 0}},
            {
                "summary": 1,
                "statistics": 1,
                "partial_correlations": 1,
                "early_prediction": 1,
                "robustness": 1,
                "prdc": 1,
                "schedules": 1,
                "early_rejection": 1,
                "figure": 10,
            },
        ),
        # the re-integrations and the robustness tables and figures alone
        (
            {"robustness": {"settings": [{"solver": "euler", "steps": 3}]}},
            {"robustness_runs": 1, "robustness_scores": 1, "robustness": 1, "figure": 2},
        ),
        # only the two sample grids
        ({"figures": {"grid_samples": 4}}, {"figure": 2}),
        # the Fréchet table and its figure alone
        ({"fidelity": {"random_groups": 10}}, {"fidelity": 1, "figure": 1}),
        # what early rejection keeps, judged again, not the runs
        ({"early_rejection": {"random_draws": 10}}, {"early_rejection": 1, "figure": 1}),
        # the stops themselves, and what they keep
        (
            {"early_rejection": {"check_times": [0.3]}},
            {"early_rejection_runs": 1, "early_rejection": 1, "figure": 1},
        ),
        # how the energy grid is built: the schedules compared, not the calibration
        ({"grid_calibration": {"gamma": 1.0}}, {"schedules": 1, "figure": 1}),
        # the calibration itself, and the schedules built on it
        ({"grid_calibration": {"nodes": 50}}, {"calibrate_grid": 1, "schedules": 1, "figure": 1}),
        # density and below, not generation
        (
            {"density": {"k": [2, 4]}},
            {
                "reference_index": 2,
                "density_shard": S,
                "robustness_scores": 1,
                "schedules": 1,
                **BELOW_MERGE,
            },
        ),
        # the classifier, and what it scores and embeds
        (
            {"classifier": {"epochs": 41}},
            {
                "train_classifier": 1,
                "semantics_shard": S,
                "reference_index": 1,
                "features_shard": S,
                "density_shard": S,
                "robustness_scores": 1,
                "schedules": 1,  # its fidelity in the classifier's space
                **BELOW_MERGE,
            },
        ),
    ],
    ids=[
        "sampling.tau",
        "statistics.bootstrap",
        "robustness.settings",
        "figures.grid_samples",
        "fidelity.random_groups",
        "early_rejection.random_draws",
        "early_rejection.check_times",
        "grid_calibration.gamma",
        "grid_calibration.nodes",
        "density.k",
        "classifier",
    ],
)
def test_a_config_edit_reruns_exactly_the_jobs_it_affects(study, change, expected):
    expected = {**expected, "inventory": 1}  # the finished study's listing, after any change
    if set(expected) & TABLE_RULES:  # the report's pages read every study table
        expected |= {"page_one": 1, "report_tables": 1}
    if set(expected) & {*TABLE_RULES, "figure"}:  # and the figures' pages every figure
        expected |= {"figure_pages": 1}
    if "merge_samples" in expected:  # the explorer draws every sample
        expected |= {"explorer": 1}
    override = study / "change.yaml"
    write_config(override, change)
    run = snakemake(study, "--cores", "1", "-n", "--configfile", str(override))
    assert run.returncode == 0, run.stderr[-3000:]
    counts = job_counts(run.stdout)
    assert counts.pop("all") == 1
    assert counts.pop("total") == sum(expected.values()) + 1
    assert counts == expected
    # the README's way to see why: the plan's reasons name the edit's own rules first
    reasons = run.stdout[run.stdout.index("Reasons:") :]
    assert "params have changed since last execution:" in reasons


def test_no_workflow_script_reads_the_whole_config():
    for script in (ROOT / "workflow_scripts").glob("*.py"):
        text = script.read_text()
        assert not re.search(r"\b(sm|snakemake)\.config\b", text), script.name


def test_every_job_reads_exactly_the_config_keys_it_declares(study):
    """No job's slice holds a key it does not read (which would rerun it needlessly); reading
    one it lacks stops the job (tests/test_jobs.py)."""
    assert assert_declared_keys_read(study) >= 20


def test_one_figure_is_rebuilt_alone(study):
    target = f"{OUT}/figures/speed_profile.png"
    run = snakemake(study, "--cores", "1", target, "--force")
    assert run.returncode == 0, run.stderr[-3000:]
    log = run.stdout + run.stderr
    assert "localrule figure:" in log or "rule figure:" in log
    for other in ("generate_shard", "statistics", "merge_samples"):
        assert f"rule {other}:" not in log


def test_a_file_of_another_study_names_the_study_file_that_builds_it(study):
    before = sorted((study / "results").rglob("*"))
    target = "results/own_model/figures/kpe_hist.png"
    run = snakemake(study, "--cores", "1", target)
    assert run.returncode != 0
    assert "is a file of the study 'own_model'" in run.stderr, run.stderr[-2000:]
    assert f"snakemake {target} --cores all --configfile " in run.stderr
    assert "configs/own_model.yaml" in run.stderr and "No rule to produce" not in run.stderr
    assert sorted((study / "results").rglob("*")) == before  # nothing made, nothing removed
    own = snakemake(study, "-n", f"{OUT}/figures/kpe_hist.png")  # this study's own: planned
    assert own.returncode == 0, own.stderr[-2000:]


def test_lint_is_clean():
    run = subprocess.run(
        [SNAKEMAKE, "--lint"], cwd=ROOT, capture_output=True, text=True, env=local_env()
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Congratulations" in run.stdout + run.stderr


def test_bad_config_stops_before_any_job(tmp_path):
    write_config(tmp_path / "config.yaml", TINY)
    write_config(tmp_path / "bad.yaml", {"sampling": {"solver": "rk45"}})
    run = snakemake(tmp_path, "--cores", "1", "--configfile", str(tmp_path / "bad.yaml"))
    assert run.returncode != 0
    assert "sampling.solver" in run.stderr
    assert not (tmp_path / "results").exists()


def test_corrupt_shard_fails_naming_the_file(study, tmp_path):
    workdir = copy_of(study, tmp_path)
    shard = workdir / OUT / "trajectories/shard_1.npz"
    shard.write_bytes(shard.read_bytes()[:500])
    run = snakemake(workdir, "--cores", "2")
    assert run.returncode != 0
    assert (
        "trajectories/shard_1.npz: corrupt array (.npz) file: its sha256" in run.stdout + run.stderr
    )


def test_corrupt_checkpoint_fails_naming_the_file(study, tmp_path):
    workdir = copy_of(study, tmp_path)
    ckpt = workdir / OUT / "models/flow.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    run = snakemake(workdir, "--cores", "1", f"{OUT}/trajectories/shard_0.npz", "--force")
    assert run.returncode != 0
    assert "models/flow.pt: corrupt checkpoint file: its sha256" in run.stdout + run.stderr
    assert not (workdir / OUT / "trajectories/shard_0.npz").exists()


def _job_processes(script: str, workdir: Path) -> list[int]:
    """PIDs of running workflow-script processes whose command line names ``script`` and that
    run in ``workdir`` (a job runs in its study's directory): never another test's jobs."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="ignore")
            cwd = (proc / "cwd").resolve()
        except OSError:
            continue
        job = proc.name.isdigit() and f"{script}.py" in cmdline and "python" in cmdline
        if job and cwd == workdir.resolve():
            pids.append(int(proc.name))
    return pids


def test_killed_job_resumes_with_the_same_command(study, tmp_path):
    write_config(tmp_path / "config.yaml", TINY)
    cmd = [SNAKEMAKE, "--snakefile", ROOT / "Snakefile", "--directory", tmp_path, "--cores", "2"]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=local_env()
    )
    deadline = time.monotonic() + 300
    killed = []
    while not killed and proc.poll() is None and time.monotonic() < deadline:
        killed = _job_processes("generate_shard", tmp_path)
        time.sleep(0.05)
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    assert killed, "no generate_shard job was seen running"
    assert proc.wait(timeout=300) != 0  # the run stops on the killed job
    assert not (tmp_path / OUT / "samples.parquet").exists()
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=local_env())
    assert run.returncode == 0, run.stderr[-3000:]
    assert not list(tmp_path.rglob("*.partial"))
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / OUT / "samples.parquet"),
        pd.read_parquet(study / OUT / "samples.parquet"),
    )


def test_outputs_of_two_experiments_never_collide(tmp_path):
    cfg = dict(TINY, experiment="other")
    write_config(tmp_path / "config.yaml", cfg)
    run = snakemake(tmp_path, "--cores", "1", "-n")
    assert run.returncode == 0
    assert "results/other/samples.parquet" in run.stdout
    assert "results/tiny" not in run.stdout
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["experiment"] == "other"


def _flip(path: Path) -> None:
    """Flip one byte in the middle of ``path``: a valid-looking file with other contents."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("corrupt", "reader_target"),
    [
        ("models/flow.pt", "trajectories/shard_0.npz"),
        ("index/pixels.faiss", "density/shard_0.parquet"),
    ],  # samples.parquet: the next test, with the whole documented command
)
def test_a_flipped_byte_is_caught_and_the_rebuild_command_restores_the_file(
    study, tmp_path, corrupt, reader_target
):
    """The next job that reads the file fails naming it and the rebuild command; that command
    (``--forcerun <file>``) rebuilds it bit-identical."""
    workdir = copy_of(study, tmp_path)
    path = workdir / OUT / corrupt
    _flip(path)
    run = snakemake(workdir, "--cores", "2", f"{OUT}/{reader_target}", "--force")
    log = run.stdout + run.stderr
    assert run.returncode != 0
    assert f"{OUT}/{corrupt}: corrupt" in log and "its sha256" in log
    assert f"--forcerun {OUT}/{corrupt}" in log
    rebuild = snakemake(
        workdir, "--cores", "2", f"{OUT}/{corrupt}", "--forcerun", f"{OUT}/{corrupt}"
    )
    assert rebuild.returncode == 0, rebuild.stderr[-3000:]
    assert sha256(path) == sha256(study / OUT / corrupt)


def test_the_documented_rebuild_restores_identical_results(study, tmp_path):
    """The whole command of the error message, on a corrupted merged table."""
    workdir = copy_of(study, tmp_path)
    _flip(workdir / OUT / "samples.parquet")
    run = snakemake(workdir, "--cores", "2")
    assert run.returncode != 0
    assert f"{OUT}/samples.parquet: corrupt parquet file" in run.stdout + run.stderr
    rebuild = snakemake(workdir, "--cores", "2", "--forcerun", f"{OUT}/samples.parquet")
    assert rebuild.returncode == 0, rebuild.stderr[-3000:]
    for name in ("samples.parquet", "statistics/correlations.csv", "statistics/groups.csv"):
        assert sha256(workdir / OUT / name) == sha256(study / OUT / name), name


@pytest.mark.parametrize("how", ["with its record", "rewritten in place"])
@pytest.mark.parametrize(
    ("copied", "target"),
    [
        ("trajectories/shard_{}.npz", "kpe/shard_1.parquet"),
        ("kpe/shard_{}.parquet", "samples.parquet"),
    ],
)
def test_a_shard_copied_over_another_is_named(study, tmp_path, copied, target, how):
    """A valid file in the wrong place: copied with its sidecar, its record names the file it
    was written as; written there anew (a record of its own), its sample indices tell."""
    workdir = copy_of(study, tmp_path)
    source, dest = (workdir / OUT / copied.format(s) for s in (0, 1))
    if how == "with its record":
        copy_with_record(source, dest)
        message = f"was written for a file named {source.name}"
    elif dest.suffix == ".npz":
        write_npz(dest, **read_npz(source))
        message = "shard_1.npz: holds samples 0…47 (48), but shard 1 holds samples 48…95"
    else:
        write_parquet(dest, pd.read_parquet(source))
        message = "kpe/shard_1.parquet: holds samples 0…47 (48), but shard 1 holds samples 48…95"
    run = snakemake(workdir, "--cores", "2", f"{OUT}/{target}", "--force")
    assert run.returncode != 0
    assert message in run.stdout + run.stderr


def test_all_samples_non_finite_stops_with_one_message_and_keeps_the_summary(study, tmp_path):
    workdir = copy_of(study, tmp_path)
    table = workdir / OUT / "samples.parquet"
    df = pd.read_parquet(table)
    df["nonfinite"] = True
    write_parquet(table, df)
    targets = [f"{OUT}/statistics/statistics.json", f"{OUT}/figures/kpe_vs_density.png"]
    run = snakemake(workdir, "--cores", "1", "--keep-going", *targets, "--force")
    log = run.stdout + run.stderr
    assert run.returncode != 0
    assert f"all {len(df)} samples are non-finite" in log
    for crash in ("zero-size array", "Bin edges must be unique", "Traceback"):
        assert crash not in (workdir / OUT / "logs/statistics.log").read_text()
    summary = pd.read_csv(workdir / OUT / "statistics/summary.csv").set_index("key").value
    assert summary["n_analysed"] == "0" and summary["n_nonfinite_excluded"] == str(len(df))


def test_the_confound_stage_controls_for_the_noise_norm(study):
    """x0_norm_sq is ‖x0‖² of the shard's noise; every energy × measure × control has a raw and
    a partial ρ; with statistics.partial_controls: [] the stage and its figure leave the DAG."""
    from enfopath.io import read_npz

    df = pd.read_parquet(study / OUT / "samples.parquet").set_index("sample")
    shard = read_npz(study / OUT / "trajectories/shard_1.npz")
    x0 = shard["x0"].reshape(len(shard["x0"]), -1).astype(np.float64)
    np.testing.assert_allclose(df.loc[shard["sample"], "x0_norm_sq"], (x0**2).sum(1))
    np.testing.assert_allclose(df.chord_energy, df.kpe - df.straightness, rtol=1e-6)
    table = pd.read_csv(study / OUT / "statistics/partial_correlations.csv")
    assert set(table.control) == {"x0_norm_sq", "chord_energy"}
    assert set(table.energy) == {"kpe", "straightness", "kpe_early", "kpe_late"}
    assert len(table) == 2 * 4 * table.measure.nunique()
    defined = table.spearman_rho.notna()  # a constant measure (Naeem on a tiny study) has none
    assert defined.sum() > len(table) / 2
    assert table.loc[defined, ["partial_rho", "partial_p", "partial_q"]].notna().all().all()
    raw = pd.read_csv(study / OUT / "statistics/correlations.csv")
    merged = table.merge(raw, on=["energy", "measure"], suffixes=("", "_raw"))
    np.testing.assert_allclose(merged.spearman_rho, merged.spearman_rho_raw)
    off = study / "no_confounds.yaml"
    write_config(off, {"statistics": {"partial_controls": []}})
    run = snakemake(study, "--cores", "1", "-n", "--forceall", "--configfile", str(off))
    assert run.returncode == 0, run.stderr[-3000:]
    counts = job_counts(run.stdout)
    assert "partial_correlations" not in counts and counts["figure"] == len(TINY_FIGURES) - 1


def test_the_early_prediction_stage_reads_the_partial_energy(study):
    """kpe_t<s> is E(s) from the state: 0 at s = 0, the KPE at s = 1, increasing; at s = 1 the
    AUROC for the final groups is exactly 1 and ρ with the final KPE is 1."""
    df = pd.read_parquet(study / OUT / "samples.parquet")
    cols = sorted(c for c in df.columns if re.fullmatch(r"kpe_t\d\.\d{3}", c))
    assert len(cols) == TINY["sampling"]["profile_points"]
    assert (df[cols[0]] == 0).all() and np.allclose(df[cols[-1]], df.kpe)
    assert (np.diff(df[cols].to_numpy(), axis=1) >= 0).all()
    table = pd.read_csv(study / OUT / "statistics/early_prediction.csv")
    end = table[table.s == 1.0].set_index("target")
    assert end.loc["low_kpe_group", "value"] == 1.0 and end.loc["high_kpe_group", "value"] == 1.0
    assert end.loc["kpe", "value"] == pytest.approx(1.0)
    assert table.nfe_share.max() == pytest.approx(1.0) and table.nfe_share.min() < 0.1
    ok = df[~df.nonfinite]
    # the free baselines, known at s = 0, on the same resamples: ‖x0‖² costs nothing, the speed
    # at t = 0 one model evaluation of the mean NFE
    for b, cost in (("x0_norm_sq", 0.0), ("speed_sq_t0.000", 1.0 / ok["nfe_t1.000"].mean())):
        rows = table[table.predictor == b]
        assert (rows.s == 0.0).all() and rows.nfe_share.to_numpy() == pytest.approx(cost)
    speed = table[(table.predictor == "speed_sq_t0.000") & (table.statistic == "spearman")]
    rho = ok["speed_sq_t0.000"].rank().corr(ok.kpe.rank())
    assert speed.set_index("target").loc["kpe", "value"] == pytest.approx(rho)
    quality = {t for t in table.target if t.endswith("_group") and "kpe" not in t}
    assert quality == {
        f"{side}_clf_{m}_group"
        for side in ("low", "high")
        for m in ("confidence", "margin", "entropy")
    }


def test_the_robustness_stage_reintegrates_the_studys_own_samples(study):
    """The setting equal to the study's own solver reproduces the study's KPE of the same
    samples exactly (same noise, same batches); the table ranks every setting against the
    reference; with robustness.enabled: false the stage and its figures leave the DAG."""
    from enfopath.study.robustness import SolverSetting

    df = pd.read_parquet(study / OUT / "samples.parquet").set_index("sample")
    runs = pd.read_parquet(study / OUT / "robustness/runs.parquet")
    n = TINY["robustness"]["n_samples"]
    own = runs[runs.setting == SolverSetting("dopri5", rtol=1e-5, atol=1e-5).label]
    assert list(own["sample"]) == list(range(n))
    np.testing.assert_array_equal(own.kpe.to_numpy(), df.kpe.to_numpy()[:n])
    table = pd.read_csv(study / OUT / "statistics/robustness.csv")
    assert table.reference.iloc[0] and table.setting.iloc[0] == "dopri5 rtol 1e-06 atol 1e-06"
    assert len(table) == 1 + len(TINY["robustness"]["settings"]) and (table.n == n).all()
    rows = table.set_index("setting")
    assert rows.loc["euler 8", "nfe"] == 8 and rows.loc["rk4 4", "nfe"] == 16
    euler = rows.loc["euler 8"]  # Euler's state energy is its left-Riemann sum
    assert euler.kpe_rel_error_mean == pytest.approx(euler.left_riemann_rel_error_mean)
    assert np.isnan(rows.loc["dopri5 rtol 1e-05 atol 1e-05", "left_riemann_rel_error_mean"])
    assert rows.loc["dopri5 rtol 1e-05 atol 1e-05", "kpe_rel_error_mean"] < 1e-3
    assert table.spearman.between(0.9, 1.0).all()
    corr = pd.read_csv(study / OUT / "statistics/robustness_correlations.csv")
    assert set(corr.setting) == set(table.setting)
    # each setting's endpoints are scored as the study scores its shards: the study's own
    # solver's endpoints get the study's semantic and density measures, bit for bit
    from enfopath.study.tables import measure_columns

    scores = pd.read_parquet(study / OUT / "robustness/scores.parquet")
    assert set(scores.setting) == set(table.setting) and len(scores) == n * len(table)
    measures = measure_columns(df, ["pixels", "classifier"])
    mine = scores[scores.setting == own.setting.iloc[0]].set_index("sample")[measures]
    pd.testing.assert_frame_equal(mine, df.loc[: n - 1, measures], check_names=False)
    euler = scores[scores.setting == "euler 8"].set_index("sample")[measures]
    assert not euler.equals(mine)  # another solver's endpoints score otherwise
    row = corr[(corr.setting == "euler 8") & (corr.measure == "clf_margin")].iloc[0]
    assert row.delta_rho != row.delta_rho_kpe_only
    off = study / "no_robustness.yaml"
    write_config(off, {"robustness": {"enabled": False}})
    run = snakemake(study, "--cores", "1", "-n", "--forceall", "--configfile", str(off))
    assert run.returncode == 0, run.stderr[-3000:]
    counts = job_counts(run.stdout)
    assert "robustness_runs" not in counts and counts["figure"] == len(TINY_FIGURES) - 2


def test_memorization_and_fidelity_per_kpe_group(study):
    """The memorized share per KPE bin counts d1/d2 < 1/3 of the table; precision / recall /
    density / coverage of every group in every space, equal to the library on the same files."""
    from enfopath.io import read_npz
    from enfopath.measures.density import load_index
    from enfopath.measures.prdc import prdc, shard_features

    df = pd.read_parquet(study / OUT / "samples.parquet")
    mem = pd.read_csv(study / OUT / "statistics/memorization.csv").set_index("bin")
    assert set(mem.endpoint) == {"endpoint"}  # at t_end = 1 the projected endpoint is x(1)
    assert "projected_pixels_d1_d2" not in df
    assert mem.loc[0, "n"] == len(df)
    assert mem.loc[0, "memorized"] == (df.pixels_d1_d2 < 1 / 3).sum()
    assert mem.loc[1:, "n"].sum() == len(df)
    table = pd.read_csv(study / OUT / "statistics/prdc.csv")
    assert set(table.space) == {"pixels", "classifier"} and set(table.k) == {2, 3}
    assert set(table.group) == {"all", "low", "middle", "high"}
    low = table[(table.group == "low") & (table.space == "pixels") & (table.k == 2)].iloc[0]
    high = table[(table.group == "high") & (table.space == "pixels") & (table.k == 2)].iloc[0]
    assert abs(low.n_fake - high.n_fake) <= 1
    allrow = table[(table.group == "all") & (table.space == "pixels") & (table.k == 2)].iloc[0]
    shards = sorted(str(p) for p in (study / OUT / "features").glob("shard_*.npz"))
    fake = shard_features(shards, ["pixels"], df["sample"].to_numpy())["pixels"]
    real = read_npz(study / OUT / "features/train_pixels.npz")["features"]
    radii = read_npz(study / OUT / "index/pixels_radii.npz")
    m = prdc(real, load_index(study / OUT / "index/pixels.faiss"), radii["radii"][0], fake, 2)
    assert (allrow.precision, allrow.recall, allrow.density, allrow.coverage) == pytest.approx(
        (m.precision, m.recall, m.density, m.coverage)
    )
    assert 0 < allrow.recall <= 1  # the tiny flow's blurry digits: no precision to speak of
