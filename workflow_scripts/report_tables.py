"""Rule report_tables: each study table (statistics/<name>.csv) as a sortable HTML page of the
report (enfopath.study.html_tables), page i from input table i."""

from pathlib import Path

from _common import setup

from enfopath.io import atomic_path, read_csv
from enfopath.study.html_tables import table_page

sm = snakemake  # noqa: F821
log = setup(sm)
for source, page in zip(sm.input.tables, sm.output.pages, strict=True):
    table = read_csv(source)
    name = Path(source).name
    note = (
        f"{len(table):,} rows, from statistics/{name}. Click a column's name to sort by it; hover "
        "a cell for its exact value. The CSV itself is in the report's panel 'Tables as CSV'."
    )
    with atomic_path(page) as tmp:
        tmp.write_text(table_page(table, name, note))
    log.info("%s: %d rows, %d columns", page, *table.shape)
