"""Rule ladder: every headline relation, the held-out loss, the sample quality and the KPE
distribution at each rung of the checkpoint ladder (each seed's training run at each step of
replicates.flow_steps, and at its last step: the study's flow, or a replicate seed's; or the
checkpoints of flow.checkpoints and the study's flow, trained elsewhere: no held-out loss).
The rungs' steps and the top rung's come as ``params`` (enfopath.study.config.ladder_steps)."""

from _common import job_config, setup

from enfopath.io import read_csv, read_parquet, write_csv
from enfopath.study.ladder import heldout_at, ladder_relations, ladder_rungs

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = job_config(sm)
rep, last, steps = cfg["replicates"], int(sm.params.top), [int(k) for k in sm.params.rungs]
seeds, n = [cfg["seed"], *rep["flow_seeds"]], rep["n_samples"]
study = read_parquet(sm.input.table)
tables = {(cfg["seed"], last): study[study["sample"] < n].reset_index(drop=True)}
tables |= {
    (s, last): read_parquet(p) for s, p in zip(rep["flow_seeds"], sm.input.replicates, strict=True)
}
rungs = [(s, k) for s in seeds for k in steps]  # the order of input.rungs
tables |= {rung: read_parquet(p) for rung, p in zip(rungs, sm.input.rungs, strict=True)}
# the training monitor's records of the runs trained here (none for checkpoints from elsewhere)
records = {s: (p, read_csv(p)) for s, p in zip(seeds, sm.input.training, strict=False)}
losses = {
    (s, k): heldout_at(records[s][1], k, records[s][0]) if s in records else float("nan")
    for s, k in tables
}
study_rung = (cfg["seed"], last)
per_rung = ladder_rungs(tables, losses, study_rung)
relations = ladder_relations(
    tables, study_rung, cfg["density"]["spaces"], cfg["statistics"], cfg["seed"]
)
for r in per_rung.itertuples():
    log.info(
        "seed %d step %d: held-out loss %.4f, mean KPE %.4g, quality %.4f",
        r.flow_seed,
        r.flow_step,
        r.heldout_loss,
        r.kpe_mean,
        r.quality,
    )
write_csv(sm.output.table, relations)
write_csv(sm.output.rungs, per_rung)
