"""Rule fetch_hub: resolve the CLIP weights or the VAE (hub, cache or local) and record them."""

from _common import job_config, setup

from enfopath.io import write_json
from enfopath.models.clip import ClipSpec, resolve_clip
from enfopath.models.hub import manifest, resolve_repo_dir
from enfopath.models.latent import VAE_FILES

sm = snakemake  # noqa: F821
log = setup(sm, network=True)
cfg = job_config(sm)
if sm.wildcards.hub == "clip":
    record = resolve_clip(ClipSpec.from_config(cfg["clip"]))
else:
    directory = resolve_repo_dir(cfg["vae"]["source"], VAE_FILES)
    files = {f: directory / f for f in VAE_FILES}
    record = manifest(files, source=cfg["vae"]["source"], directory=str(directory.resolve()))
log.info("%s: %s", sm.wildcards.hub, record)
write_json(sm.output.manifest, record)
