"""Rule partial_correlations: is KPE more than the size of the noise? Raw and partial Spearman
correlations of each energy with each measure, controlling for ‖x0‖² and for the chord energy."""

from _common import job_config, setup

from enfopath.columns import density_prefixes
from enfopath.io import read_parquet, write_csv
from enfopath.measures.correlation import partial_correlations
from enfopath.study.tables import CONFOUND_ENERGIES, analysed_samples, measure_columns

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = job_config(sm)
st = cfg["statistics"]
analysed = analysed_samples(read_parquet(sm.input.table))
measures = measure_columns(analysed, density_prefixes(cfg["density"]))
table = partial_correlations(
    analysed,
    list(CONFOUND_ENERGIES),
    measures,
    st["partial_controls"],
    n_boot=st["bootstrap"],
    seed=cfg["seed"],
    confidence=st["confidence"],
)
for control in st["partial_controls"]:
    kpe = table[(table.control == control) & (table.energy == "kpe")]
    flipped = kpe[(kpe.spearman_rho * kpe.partial_rho < 0)].measure.tolist()
    log.info("controlling for %s, KPE relations that change sign: %s", control, flipped or "none")
write_csv(sm.output.table, table)
