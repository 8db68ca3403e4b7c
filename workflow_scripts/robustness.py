"""Rule robustness: accuracy and rank agreement of every solver setting against the reference,
each setting's headline correlations on its own re-scored endpoints, and the smallest NFE from
which the KPE groups, the energy and the headline correlations are stable."""

from _common import job_config, setup

from enfopath.io import read_csv, read_parquet, write_csv
from enfopath.measures.robustness import compare_settings, delta_rho_bounds, smallest_stable
from enfopath.study.tables import measure_columns

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = job_config(sm)
rc = cfg["robustness"]
runs = read_parquet(sm.input.runs)
scores = read_parquet(sm.input.scores)
measures = measure_columns(scores, cfg["density"]["spaces"])
st = cfg["statistics"]
bounds = delta_rho_bounds(read_csv(sm.input.correlations), measures, rc["stable_delta_rho"])
settings, correlations = compare_settings(
    runs,
    scores[["setting", "sample", *measures]],
    quantile=st["group_quantile"],
    stable_overlap=rc["stable_overlap"],
    stable_kpe_error=rc["stable_kpe_error"],
    delta_rho_bounds=bounds,
    n_boot=st["bootstrap"],
    seed=cfg["seed"],
    confidence=st["confidence"],
)
log.info("Δρ bounds: %s", ", ".join(f"{m} {b:.3f}" for m, b in bounds.items()))
for r in settings.itertuples():
    log.info(
        "%s: NFE %.0f, KPE rel. error %.2e (left Riemann %.2e), Spearman %.4f, Kendall %.4f, "
        "group overlap %.3f / %.3f, max |Δρ| %.3f (%.2f of its bound)%s",
        r.setting,
        r.nfe,
        r.kpe_rel_error_mean,
        r.left_riemann_rel_error_mean,
        r.spearman,
        r.kendall,
        r.low_overlap,
        r.high_overlap,
        r.max_abs_delta_rho,
        r.max_delta_rho_share,
        ", stable" if r.stable else "",
    )
first = smallest_stable(settings)
log.info(
    "stable from %s"
    % (f"{first.setting} (NFE {first.nfe:.0f}) on" if first is not None else "no setting")
)
write_csv(sm.output.table, settings)
write_csv(sm.output.correlations, correlations)
