"""Rule page_one: the report's first page, the study's answer written from its own tables
(enfopath.study.page_one) above the method text (report/workflow.rst)."""

from pathlib import Path

from _common import setup

from enfopath.io import atomic_path, read_csv
from enfopath.study.page_one import StudyTables, page_one, results_text

sm = snakemake  # noqa: F821
log = setup(sm)
inputs = sm.input
optional = ("partial", "early", "robustness", "memorization", "prdc")
tables = StudyTables(
    summary=dict(read_csv(inputs.summary)[["key", "value"]].astype(str).values.tolist()),
    correlations=read_csv(inputs.correlations),
    figures=tuple(sm.params.figures),
    **{name: read_csv(getattr(inputs, name)) for name in optional if hasattr(inputs, name)},
)
results = results_text(tables)
log.info("page one:\n%s", results)
with atomic_path(sm.output.page) as tmp:
    tmp.write_text(page_one(results, Path(inputs.method).read_text()))
