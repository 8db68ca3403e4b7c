"""Rule page_one: the report's first page, the study's answer written from its own tables
(enfopath.study.page_one) above the method text (report/workflow.rst)."""

from pathlib import Path

from _common import setup

from enfopath.io import atomic_path
from enfopath.study.page_one import page_one, read_study_tables, results_text

sm = snakemake  # noqa: F821
log = setup(sm)
paths = dict(sm.input.items())
tables = read_study_tables(paths, tuple(sm.params.figures))
results = results_text(tables)
log.info("page one:\n%s", results)
with atomic_path(sm.output.page) as tmp:
    tmp.write_text(page_one(results, Path(paths["method"]).read_text()))
