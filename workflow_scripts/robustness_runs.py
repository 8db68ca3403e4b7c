"""Rule robustness_runs: the study's first samples re-integrated under every solver setting of
``robustness.settings`` and under the tight reference: the per-sample runs and the endpoints."""

from _common import job_config, rerun_settings, setup

from enfopath.io import write_npz, write_parquet
from enfopath.study.robustness import SolverSetting

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = job_config(sm)
rc = cfg["robustness"]
runs, endpoints = rerun_settings(
    sm,
    cfg,
    log,
    rc["n_samples"],
    [SolverSetting.from_config(s) for s in rc["settings"]],
    SolverSetting.from_config(rc["reference"]),
)
for label, run in runs.groupby("setting", sort=False):
    log.info("%s: mean NFE %.1f, mean KPE %.5f", label, run.nfe.mean(), run.kpe.mean())
write_parquet(sm.output.runs, runs)
write_npz(sm.output.endpoints, **endpoints)
