"""Rule features_shard: features of one shard's generated samples in every density space, and
the pixels of their projected endpoints x̂₁ when the study stops at t_end < 1 (memorization)."""

from _common import feature_models, job_config, setup

from enfopath.columns import PROJECTED_PIXELS
from enfopath.io import check_shard_samples, read_npz, write_npz
from enfopath.measures.features import sample_features
from enfopath.measures.images import projected_images
from enfopath.models.networks import pick_device

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = job_config(sm)
device = pick_device()
models = feature_models(sm, cfg, device)
shard = read_npz(sm.input.shard, ("sample", "x1"))
check_shard_samples(shard["sample"], sm.input.shard)
features = {s: sample_features(s, shard, models) for s in cfg["density"]["spaces"]}
if "x1_projected" in shard and "pixels" in features:
    images = projected_images(shard)
    features[PROJECTED_PIXELS] = images.reshape(len(images), -1)
log.info("features: %s", {k: v.shape for k, v in features.items()})
write_npz(sm.output.features, sample=shard["sample"], **features)
