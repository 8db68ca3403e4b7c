"""Rule semantics_shard: semantic scores of one shard's samples (classifier or CLIP)."""

from _common import feature_models, job_config, semantics_setup, setup

from enfopath.columns import PROMPT_COLUMNS
from enfopath.io import check_shard_samples, read_npz, write_parquet
from enfopath.measures.images import shard_images
from enfopath.measures.semantics import sample_semantics
from enfopath.models.networks import pick_device

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = job_config(sm)
semantics = semantics_setup(sm, cfg)
models = feature_models(sm, cfg, pick_device())
shard = read_npz(sm.input.shard, ("sample", "x1", "label"))
check_shard_samples(shard["sample"], sm.input.shard)
# flagged (non-finite) samples: scores computed, never analysed
scores = sample_semantics(semantics, shard_images(shard), shard["label"], models)
if semantics.method == "classifier":
    log.info("mean confidence %.4f", scores.clf_confidence.mean())
else:
    log.info(
        "CLIP %s, %d prompts like %r, class from %s: mean score %.3f, margin %.3f",
        cfg["clip"]["model"],
        len(semantics.class_names),
        semantics.template.format(semantics.class_names[0]),
        scores.clip_class_source.iloc[0],
        scores.clip_score.mean(),
        scores.clip_margin.mean(),
    )
scores.insert(0, "sample", shard["sample"])
scores.insert(1, "label", shard["label"])
if "clip" in cfg and "template" not in cfg["clip"]:  # text-to-image: each sample's prompt
    prompts = read_npz(sm.input.dataset, ("prompt_ids", "class_names", "categories"))
    for column, key in PROMPT_COLUMNS.items():
        scores[column] = prompts[key][shard["label"]].astype(str)
write_parquet(sm.output.table, scores)
