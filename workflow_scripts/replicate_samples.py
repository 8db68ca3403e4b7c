"""Rules replicate_samples and rung_samples: one replicate flow (another training seed) or one
rung of the checkpoint ladder run from the study's noise, its endpoints scored by the study's
own classifier / CLIP and reference sets: its per-sample table."""

from _common import ProgressLog, feature_models, flow_options, job_config, semantics_setup, setup

from enfopath.io import write_parquet
from enfopath.measures.density import load_references
from enfopath.models.flows import load_flow
from enfopath.models.networks import pick_device
from enfopath.study.replicates import replicate_samples
from enfopath.study.scoring import Scorer
from enfopath.study.shards import SamplingConfig

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = job_config(sm)
dc, n = cfg["density"], cfg["replicates"]["n_samples"]
device = pick_device()
flow, info = load_flow(sm.input.checkpoint, device, **flow_options(sm, cfg))
scorer = Scorer(
    semantic=semantics_setup(sm, cfg),
    models=feature_models(sm, cfg, device),
    references=load_references(
        dc["spaces"], sm.input.references, sm.input.indexes, sm.input.radii, dc["k"]
    ),
)
sampling = SamplingConfig.from_config(cfg["sampling"])
step = getattr(sm.wildcards, "step", None)  # a ladder's rung (rule rung_samples)
log.info(
    "flow of seed %s%s: samples 0…%d of %s on %s, %s",
    sm.wildcards.replicate,
    "" if step is None else f" at step {step}",
    n - 1,
    info["model"],
    device,
    sampling,
)
progress = ProgressLog(log, n, "samples")
table = replicate_samples(
    flow,
    cfg["seed"],
    n,
    sampling,
    device,
    scorer,
    progress=lambda k, nfe: progress.update(k, f"NFE {nfe}"),
)
log.info("mean KPE %.4f, non-finite %d", table.kpe.mean(), int(table.nonfinite.sum()))
write_parquet(sm.output.table, table)
