"""Rule encode_prompts: every prompt of the study's prompt file encoded once by the
pipeline's own text encoders (its transformer and VAE left on disk), the embeddings stored
checksummed; truncations logged by line."""

from _common import job_config, setup

from enfopath.models.networks import pick_device
from enfopath.models.t2i_pipeline import (
    IMAGE_COMPONENTS,
    folder_family,
    load_pipeline,
    read_pipeline_manifest,
)
from enfopath.study.embeddings import encode_prompt_file, family_negative

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = job_config(sm)
d = cfg["flow"]["diffusers"]
folder = read_pipeline_manifest(sm.input.pipeline)
device = pick_device()
pipe = load_pipeline(folder, device, without=IMAGE_COMPONENTS)
negative = family_negative(folder_family(folder), d["negative_prompt"])
prompts = encode_prompt_file(
    pipe,
    folder,
    sm.input.prompts,
    sm.output.embeddings,
    negative=negative,
    max_sequence_length=d["max_sequence_length"],
    batch_size=cfg["prompts"]["encode_batch_size"],
    log=log,
)
log.info(
    "%d prompts encoded on %s (T5 tokens %d, negative prompt %r)",
    len(prompts),
    device,
    d["max_sequence_length"],
    negative,
)
