"""Rule early_rejection_runs: the study's first samples integrated to each check time, the
share predicted worst by E(s) stopped there, the rest integrated to the end, and every sample
integrated through: the partial energies and the compute of each stop."""

from _common import ProgressLog, flow_options, job_config, setup, study_sampling

from enfopath.io import write_parquet
from enfopath.models.flows import load_flow
from enfopath.models.networks import pick_device
from enfopath.study.rejection import RejectionPlan, early_rejection_runs

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = job_config(sm)
er = cfg["early_rejection"]
plan = RejectionPlan.from_config(er)
device = pick_device()
flow, info = load_flow(sm.input.checkpoint, device, **flow_options(sm, cfg))
sampling = study_sampling(sm, cfg)
n = er["n_samples"]
log.info(
    "samples 0…%d of %s on %s, %s: stop the share %s %s in E(s) at s = %s",
    n - 1,
    info["model"],
    device,
    sampling.solver,
    list(plan.shares),
    plan.reject,
    list(plan.check_times),
)
legs = n * (1 + len(plan.check_times)) + sum(
    round(n * (1 - q)) for q in plan.shares for _ in plan.check_times
)
progress = ProgressLog(log, legs, "sample legs", every_s=10.0)
partial, compute = early_rejection_runs(
    flow, cfg["seed"], n, plan, sampling, device, progress=progress.update
)
for r in compute.itertuples():
    log.info(
        "s = %g (stop at %g), share %g: %d of %d stopped, %.1f %% of the sample evaluations "
        "of integrating all through; kept endpoints within RMS %.2g, KPE within %.2g relative",
        r.check_time,
        r.check_node,
        r.share,
        r.n_rejected,
        r.n,
        100 * r.nfe_share,
        r.kept_x1_rms_max,
        r.kept_kpe_rel_max,
    )
write_parquet(sm.output.partial, partial)
write_parquet(sm.output.compute, compute)
