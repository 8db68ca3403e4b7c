"""Rule robustness_runs: the study's first samples re-integrated under every solver setting of
``robustness.settings`` and under the tight reference: the per-sample runs and the endpoints."""

from _common import ProgressLog, flow_options, job_config, setup, study_sampling

from enfopath.io import write_npz, write_parquet
from enfopath.models.flows import load_flow
from enfopath.models.networks import pick_device
from enfopath.study.robustness import SolverSetting, integrate_settings

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = job_config(sm)
rc = cfg["robustness"]
device = pick_device()
options = flow_options(sm, cfg, decoded=True)  # a latent flow's decoder too
flow, info = load_flow(sm.input.checkpoint, device, **options)
settings = [SolverSetting.from_config(s) for s in rc["settings"]]
reference = SolverSetting.from_config(rc["reference"])
log.info(
    "samples 0…%d of %s on %s: reference %s; settings %s",
    rc["n_samples"] - 1,
    info["model"],
    device,
    reference.label,
    [s.label for s in settings],
)
progress = ProgressLog(log, rc["n_samples"], "samples")
runs, endpoints = integrate_settings(
    flow,
    cfg["seed"],
    rc["n_samples"],
    settings,
    reference,
    study_sampling(sm, cfg),
    device,
    progress=progress.update,
)
for label, run in runs.groupby("setting", sort=False):
    log.info("%s: mean NFE %.1f, mean KPE %.5f", label, run.nfe.mean(), run.kpe.mean())
write_parquet(sm.output.runs, runs)
write_npz(sm.output.endpoints, **endpoints)
