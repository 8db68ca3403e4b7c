"""Rule semantics_shard: semantic scores of one shard's samples (classifier or CLIP)."""

import torch
from _common import setup

from enfopath.io import check_shard_samples, read_npz, write_parquet
from enfopath.measures.features import embed, load_models
from enfopath.measures.images import shard_images
from enfopath.measures.semantics import classifier_scores, clip_scores
from enfopath.models.networks import pick_device

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = sm.params.config
device = pick_device()
models = load_models(dict(sm.input.items()), cfg, device)
shard = read_npz(sm.input.shard, ("sample", "x1", "label"))
check_shard_samples(shard["sample"], sm.input.shard)
images = shard_images(shard)  # flagged (non-finite) samples: scores computed, never analysed
if cfg["semantics"]["method"] == "classifier":
    with torch.no_grad():
        logits = models.classifier(torch.from_numpy(images).float().to(device))
    scores = classifier_scores(logits)
    log.info("mean confidence %.4f", scores.clf_confidence.mean())
else:
    names = [str(n) for n in read_npz(sm.input.dataset, ("class_names",))["class_names"]]
    template = cfg["clip"]["template"]
    text = models.clip.text_features(names, template)
    feats = embed("clip", images, models, cfg["clip"]["batch_size"])
    labels = torch.from_numpy(shard["label"]) if (shard["label"] >= 0).all() else None
    if labels is not None and int(labels.max()) >= len(names):
        raise ValueError(f"class label {int(labels.max())} has no name ({len(names)} classes)")
    scores = clip_scores(torch.from_numpy(feats), text, labels)
    log.info(
        "CLIP %s, %d prompts like %r, class from %s: mean score %.3f, margin %.3f",
        cfg["clip"]["model"],
        len(names),
        template.format(names[0]),
        scores.clip_class_source.iloc[0],
        scores.clip_score.mean(),
        scores.clip_margin.mean(),
    )
scores.insert(0, "sample", shard["sample"])
scores.insert(1, "label", shard["label"])
write_parquet(sm.output.table, scores)
