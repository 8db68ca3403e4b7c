"""Rules import_flow and import_rung: a released flow checkpoint (the study's, or a rung of its
flow.checkpoints ladder, which must fit the same model and architecture) rebuilt, checked and
saved in our format."""

from _common import job_config, setup

from enfopath.io import read_json
from enfopath.models.checkpoint import ReleaseMismatch, load_release_checkpoint, save_checkpoint
from enfopath.study.download import fetched

sm = snakemake  # noqa: F821
log = setup(sm)
pc = job_config(sm)["flow"]["pretrained"]
source = read_json(sm.input.manifest)
rung = getattr(sm.wildcards, "step", None)  # a ladder's rung (rule import_rung)
with fetched(sm.input.manifest) as checkpoint:
    try:
        model = load_release_checkpoint(checkpoint, pc["model"], pc["arch"], key=pc["key"])
    except ReleaseMismatch as err:
        if rung is None:
            raise
        raise ReleaseMismatch(f"flow.checkpoints step {rung}: {err}") from None
n = sum(p.numel() for p in model.parameters())
log.info("%s from %s: %d parameters", pc["model"], source["source"], n)
meta = {"source": source, "key": pc["key"], "parameters": n}
if rung is not None:
    meta["step"] = int(rung)
save_checkpoint(sm.output.checkpoint, pc["model"], pc["arch"], model, meta)
