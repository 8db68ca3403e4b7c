"""Rule import_flow: a released flow checkpoint rebuilt, checked and saved in our format."""

from _common import job_config, setup

from enfopath.io import read_json
from enfopath.models.checkpoint import load_release_checkpoint, save_checkpoint
from enfopath.study.download import fetched

sm = snakemake  # noqa: F821
log = setup(sm)
pc = job_config(sm)["flow"]["pretrained"]
source = read_json(sm.input.manifest)
with fetched(sm.input.manifest) as checkpoint:
    model = load_release_checkpoint(checkpoint, pc["model"], pc["arch"], key=pc["key"])
n = sum(p.numel() for p in model.parameters())
log.info("%s from %s: %d parameters", pc["model"], source["source"], n)
meta = {"source": source, "key": pc["key"], "parameters": n}
save_checkpoint(sm.output.checkpoint, pc["model"], pc["arch"], model, meta)
