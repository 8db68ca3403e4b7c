"""Rule prompt_effects: what a prompt set allows (a text-to-image study): the prompt's share of
each measure's variance, the relations across prompts and among the seeds of one prompt, and
the means per category."""

from _common import job_config, setup

from enfopath.io import read_parquet, write_csv
from enfopath.measures.prompt_effects import Resampling
from enfopath.study.prompt_table import prompt_effects_table
from enfopath.study.tables import analysed_samples

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = job_config(sm)
st = cfg["statistics"]
analysed = analysed_samples(read_parquet(sm.input.table))
table = prompt_effects_table(analysed, Resampling(cfg["seed"], st["bootstrap"], st["confidence"]))
for row in table[table.analysis != "category"].itertuples():
    log.info(
        "%s %s%s: %.3f [%.3f, %.3f]",
        row.analysis,
        row.measure,
        f" vs {row.against}" if row.against else "",
        row.estimate,
        row.ci_low,
        row.ci_high,
    )
write_csv(sm.output.table, table)
