"""Rules plugin_flow and import_rung: the user's own network (flow.plugin) built from its
factory, its weights loaded (the study's checkpoint, or a rung of its flow.checkpoints ladder,
which must fit the same network), checked by one call in its conventions (and its images
against the data set's shape), and saved in our format."""

import dataclasses

from _common import job_config, setup

from enfopath.io import read_json, read_npz
from enfopath.models.checkpoint import save_checkpoint
from enfopath.models.networks import pick_device
from enfopath.models.plugin import (
    PluginError,
    PluginSpec,
    build_decoder,
    build_network,
    check_network,
    load_weights,
    module_sources,
)
from enfopath.study.datasets import image_shape
from enfopath.study.download import fetched

sm = snakemake  # noqa: F821
log = setup(sm)
section = job_config(sm)["flow"]["plugin"]
spec = PluginSpec.from_config(section)
network = build_network(spec)
source = None
rung = getattr(sm.wildcards, "step", None)  # a ladder's rung (rule import_rung)
if hasattr(sm.input, "manifest"):
    source = read_json(sm.input.manifest)
    with fetched(sm.input.manifest) as checkpoint:
        try:
            load_weights(network, checkpoint, section["key"])
        except PluginError as err:
            if rung is None:
                raise
            raise PluginError(f"flow.checkpoints step {rung}: {err}") from None
device = pick_device()
decoder = build_decoder(spec)
check_network(
    spec,
    network.to(device).eval(),
    None if decoder is None else decoder.to(device).eval(),
    device,
    image_shape(read_npz(sm.input.dataset)),
)
n = sum(p.numel() for p in network.parameters())
log.info(
    "%s(%s): %d parameters, called as %s, time %s ×%s, state %s%s, weights from %s",
    spec.factory,
    spec.kwargs,
    n,
    spec.convention,
    spec.direction,
    spec.time_scale,
    list(spec.shape),
    f", {spec.num_classes} classes" if spec.conditional else "",
    source["source"] if source else "the factory",
)
meta = {"source": source, "key": section["key"], "parameters": n}
if rung is not None:
    meta["step"] = int(rung)
spec = dataclasses.replace(spec, sources=module_sources(spec))  # checked by every later build
save_checkpoint(sm.output.checkpoint, "plugin", spec.to_config(), network, meta)
