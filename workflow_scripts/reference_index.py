"""Rule reference_index: training-set features in one space, its exact FAISS index, the
Naeem radii NND_k and the KDE bandwidth (a multiple of the median NND_k, smallest k)."""

import numpy as np
from _common import ProgressLog, feature_models, job_config, setup

from enfopath.io import read_npz, write_npz
from enfopath.measures.density import build_index, local_bandwidth, reference_radii, save_index
from enfopath.measures.features import embed_batches
from enfopath.models.networks import pick_device
from enfopath.study.datasets import n_reference, reference_batches

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = job_config(sm)
dc = cfg["density"]
space = sm.wildcards.space
device = pick_device()
models = feature_models(sm, cfg, device)
dataset = read_npz(sm.input.dataset)
progress = ProgressLog(log, n_reference(dataset), f"{space} features", every_s=10)
features = embed_batches(
    space, progress.over(reference_batches(dataset, models.batch(space))), models
)
index = build_index(features)
radii = reference_radii(index, features, dc["k"])
bandwidth = local_bandwidth(radii[0], dc["kde_bandwidth_scale"])
log.info(
    "space %s: %d x %d features, median NND_k %s, KDE bandwidth %.4f",
    space,
    *features.shape,
    dict(zip(dc["k"], np.median(radii, axis=1).round(4).tolist(), strict=True)),
    bandwidth,
)
identity = {"space": space}  # checked by every reader, with k for the radii
write_npz(sm.output.features, identity, features=features)
write_npz(
    sm.output.radii,
    {**identity, "k": dc["k"]},
    k=np.array(dc["k"]),
    radii=radii,
    bandwidth=np.array(bandwidth),
)
save_index(sm.output.index, index, identity)
