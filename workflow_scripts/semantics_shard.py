"""Rule semantics_shard: classifier confidence, margin and entropy of one shard's samples."""

import numpy as np
import torch
from _common import setup

from enfopath.checkpoint import load_checkpoint
from enfopath.io import read_npz, write_parquet
from enfopath.models import pick_device
from enfopath.semantics import classifier_scores

sm = snakemake  # noqa: F821
log = setup(sm)
device = pick_device()
classifier, _ = load_checkpoint(sm.input.classifier, device)
shard = read_npz(sm.input.shard, ("sample", "x1"))
x1 = np.nan_to_num(shard["x1"], nan=0.0, posinf=0.0, neginf=0.0)  # flagged rows: scores unused
with torch.no_grad():
    logits = classifier(torch.from_numpy(x1).float().to(device))
scores = classifier_scores(logits)
scores.insert(0, "sample", shard["sample"])
log.info("mean confidence %.4f", scores.clf_confidence.mean())
write_parquet(sm.output.table, scores)
