"""Rule reference_index: training-set features in one space, its exact FAISS index, the
Naeem radii NND_k and the KDE bandwidth."""

import numpy as np
from _common import setup

from enfopath.checkpoint import load_checkpoint
from enfopath.density import build_index, median_bandwidth, reference_radii, save_index
from enfopath.features import embed
from enfopath.io import atomic_path, read_npz, write_npz
from enfopath.models import pick_device
from enfopath.seeding import derived_seed

sm = snakemake  # noqa: F821
log = setup(sm)
dc = sm.config["density"]
space = sm.wildcards.space
device = pick_device()
has_classifier = hasattr(sm.input, "classifier")  # only when a space needs it
classifier = load_checkpoint(sm.input.classifier, device)[0] if has_classifier else None
x_train = read_npz(sm.input.dataset, ("x_train",))["x_train"]
features = embed(space, x_train, classifier, device)
if len(features) <= max(dc["k"]):
    raise ValueError(
        f"density.k = {dc['k']} needs more than {max(dc['k'])} reference points; "
        f"the training set has {len(features)}"
    )
index = build_index(features)
radii = reference_radii(index, features, dc["k"])
bandwidth = dc["kde_bandwidth_scale"] * median_bandwidth(
    features, dc["kde_max_points"], derived_seed(sm.config["seed"], f"kde:{space}") % 2**32
)
log.info("space %s: %d x %d features, KDE bandwidth %.4f", space, *features.shape, bandwidth)
write_npz(sm.output.features, features=features)
write_npz(sm.output.radii, k=np.array(dc["k"]), radii=radii, bandwidth=np.array(bandwidth))
with atomic_path(sm.output.index) as tmp:
    save_index(tmp, index)
