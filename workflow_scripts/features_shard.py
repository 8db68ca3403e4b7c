"""Rule features_shard: features of one shard's generated samples in every density space."""

import numpy as np
from _common import setup

from enfopath.checkpoint import load_checkpoint
from enfopath.features import embed
from enfopath.io import read_npz, write_npz
from enfopath.models import pick_device

sm = snakemake  # noqa: F821
log = setup(sm)
device = pick_device()
spaces = sm.config["density"]["spaces"]
has_classifier = hasattr(sm.input, "classifier")  # only when a space needs it
classifier = load_checkpoint(sm.input.classifier, device)[0] if has_classifier else None
shard = read_npz(sm.input.shard, ("sample", "x1"))
x1 = np.nan_to_num(shard["x1"], nan=0.0, posinf=0.0, neginf=0.0)  # flagged rows: unused
features = {space: embed(space, x1, classifier, device) for space in spaces}
log.info("features: %s", {k: v.shape for k, v in features.items()})
write_npz(sm.output.features, sample=shard["sample"], **features)
