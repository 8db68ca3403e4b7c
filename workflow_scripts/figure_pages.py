"""Rule figure_pages: each figure as a page of the report, its caption under it and the study's
findings below (enfopath.study.figure_pages), page i of figure i."""

from _common import setup

from enfopath.io import atomic_path, verify
from enfopath.study.figure_pages import figure_page
from enfopath.study.page_one import findings_of, read_study_tables

sm = snakemake  # noqa: F821
log = setup(sm)
names, captions = list(sm.params.figures), list(sm.params.captions)
paths = {k: v for k, v in sm.input.items() if k != "figures"}
tables = read_study_tables(paths, tuple(names))
pages = zip(names, captions, sm.input.figures, sm.output.pages, strict=True)
for name, caption, png, page in pages:
    verify(png)
    findings = findings_of(name, tables)
    with open(png, "rb") as fh, atomic_path(page) as tmp:
        tmp.write_text(figure_page(name, fh.read(), caption, findings))
    log.info("%s: caption of %d characters, %d findings", page, len(caption), len(findings))
