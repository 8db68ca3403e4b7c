"""Rule prepare_data: the dataset as arrays in [-1, 1] (or an image folder's file list)."""

import contextlib

from _common import job_config, setup

from enfopath.io import write_npz
from enfopath.study.datasets import prepare_dataset
from enfopath.study.download import fetched

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = job_config(sm)
with contextlib.ExitStack() as stack:
    tarball = stack.enter_context(fetched(sm.input.source)) if hasattr(sm.input, "source") else None
    prompts = sm.input.prompts if hasattr(sm.input, "prompts") else None
    arrays = prepare_dataset(cfg, tarball, prompts)
if "prompt_ids" in arrays:
    log.info(
        "%d prompts in %d categories from %s; %s",
        len(arrays["prompt_ids"]),
        len(set(arrays["categories"])),
        prompts,
        f"{len(arrays['paths'])} reference images" if "paths" in arrays else "no reference set",
    )
elif "paths" in arrays:
    log.info("%d reference images of %d classes", len(arrays["paths"]), len(arrays["class_names"]))
else:
    log.info("train %s, test %s", arrays["x_train"].shape, arrays["x_test"].shape)
write_npz(sm.output.dataset, **arrays)
