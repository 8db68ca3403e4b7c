"""Rule robustness: accuracy and rank agreement of every solver setting against the reference,
and the smallest NFE from which the KPE groups and the headline correlations are stable."""

from _common import setup

from enfopath.io import read_parquet, write_csv
from enfopath.measures.robustness import compare_settings, smallest_stable
from enfopath.study.tables import measure_columns

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = sm.params.config
rc = cfg["robustness"]
table = read_parquet(sm.input.table)
runs = read_parquet(sm.input.runs)
measures = measure_columns(table, cfg["density"]["spaces"])
settings, correlations = compare_settings(
    runs,
    table[["sample", *measures]],
    quantile=cfg["statistics"]["group_quantile"],
    stable_overlap=rc["stable_overlap"],
    stable_delta_rho=rc["stable_delta_rho"],
)
for r in settings.itertuples():
    log.info(
        "%s: NFE %.0f, KPE rel. error %.2e (left Riemann %.2e), Spearman %.4f, Kendall %.4f, "
        "group overlap %.3f / %.3f, max |Δρ| %.3f%s",
        r.setting,
        r.nfe,
        r.kpe_rel_error_mean,
        r.left_riemann_rel_error_mean,
        r.spearman,
        r.kendall,
        r.low_overlap,
        r.high_overlap,
        r.max_abs_delta_rho,
        ", stable" if r.stable else "",
    )
first = smallest_stable(settings)
log.info(
    "stable from %s"
    % (f"{first.setting} (NFE {first.nfe:.0f}) on" if first is not None else "no setting")
)
write_csv(sm.output.table, settings)
write_csv(sm.output.correlations, correlations)
