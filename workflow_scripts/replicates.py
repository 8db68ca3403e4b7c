"""Rule replicates: the Spearman ρ of every energy with every measure under the study's flow and
each replicate flow, and the spread of each ρ across the flows."""

from _common import job_config, setup

from enfopath.io import read_parquet, write_csv
from enfopath.study.replicates import replicate_correlations, replicate_spread

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = job_config(sm)
seeds, n = cfg["replicates"]["flow_seeds"], cfg["replicates"]["n_samples"]
study = read_parquet(sm.input.table)
tables = {cfg["seed"]: study[study["sample"] < n].reset_index(drop=True)}
tables |= {s: read_parquet(p) for s, p in zip(seeds, sm.input.replicates, strict=True)}
per_flow = replicate_correlations(
    tables, cfg["seed"], cfg["density"]["spaces"], cfg["statistics"], cfg["seed"]
)
spread = replicate_spread(per_flow)
for r in spread[spread.energy == "kpe"].itertuples():
    log.info(
        "KPE vs %s: study ρ %.3f, across %d flows %.3f ± %.3f [%.3f, %.3f]%s",
        r.measure,
        r.study_rho,
        r.n_flows,
        r.rho_mean,
        r.rho_sd,
        r.rho_min,
        r.rho_max,
        ", sign established in every flow" if r.sign_established else "",
    )
write_csv(sm.output.table, per_flow)
write_csv(sm.output.spread, spread)
