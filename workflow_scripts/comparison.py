"""Rule comparison: this study against a baseline study on the same samples (compare.baseline),
and with a control study (compare.control) the control against the baseline and this study
against the control, measure by measure and sample by sample."""

from _common import job_config, setup

from enfopath.columns import density_prefixes
from enfopath.io import read_json, read_parquet, write_csv, write_parquet
from enfopath.study.relations import check_same_samples, study_comparison

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = job_config(sm)
summary = read_json(sm.input.summary)
control = None
for role in ("baseline", "control"):
    name = cfg["compare"][role]
    if name is not None:
        other = read_json(sm.input[f"{role}_summary"])
        check_same_samples(other, summary, name, role)
        log.info("%s %s: kpe is %s", role, name, other.get("kpe_definition", "?"))
if cfg["compare"]["control"] is not None:
    control = read_parquet(sm.input.control)
table, per_sample = study_comparison(
    read_parquet(sm.input.baseline),
    read_parquet(sm.input.table),
    density_prefixes(cfg["density"]),
    cfg["statistics"],
    cfg["seed"],
    control=control,
)
for r in table.itertuples():
    log.info(
        "%s, %s: %.4g -> %.4g, change %.4g [%.4g, %.4g], Wilcoxon q %.3g",
        r.contrast,
        r.measure,
        r.base_mean,
        r.mean,
        r.change_mean,
        r.change_mean_ci_low,
        r.change_mean_ci_high,
        r.wilcoxon_q,
    )
write_csv(sm.output.table, table)
write_parquet(sm.output.per_sample, per_sample)
