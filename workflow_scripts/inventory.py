"""Rule inventory: the study's last job. Every file of the finished study, reached from the
final targets through the files' records and verified in one lineage context, listed with its
sha256 in inventory.json (what ``python -m enfopath.io results/<experiment>`` checks)."""

from _common import setup

from enfopath.inventory import write_inventory

sm = snakemake  # noqa: F821
log = setup(sm)
files = write_inventory(sm.output.inventory, list(sm.input))
log.info("%d files of the finished study verified and listed", len(files))
