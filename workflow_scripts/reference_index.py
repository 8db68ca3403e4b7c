"""Rule reference_index: training-set features in one space, its exact FAISS index, the
Naeem radii NND_k and the KDE bandwidth."""

import numpy as np
from _common import progress_stream, setup
from tqdm import tqdm

from enfopath.data import n_reference, reference_batches
from enfopath.density import build_index, median_bandwidth, reference_radii, save_index
from enfopath.features import embed_batches, load_models
from enfopath.io import atomic_path, read_npz, write_npz
from enfopath.models import pick_device
from enfopath.seeding import derived_seed

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = sm.config
dc = cfg["density"]
space = sm.wildcards.space
device = pick_device()
models = load_models(dict(sm.input.items()), cfg, device, cfg["sampling"]["precision"])
dataset = read_npz(sm.input.dataset)
batch = cfg["vae"]["batch_size"] if space == "latent" else cfg["clip"]["batch_size"]
batches = tqdm(
    reference_batches(dataset, batch),
    total=-(-n_reference(dataset) // batch),
    file=progress_stream(sm),
    desc=f"{space} features",
    mininterval=10,
)
features = embed_batches(space, batches, models)
if len(features) <= max(dc["k"]):
    raise ValueError(
        f"density.k = {dc['k']} needs more than {max(dc['k'])} reference points; "
        f"the reference set has {len(features)}"
    )
index = build_index(features)
radii = reference_radii(index, features, dc["k"])
bandwidth = dc["kde_bandwidth_scale"] * median_bandwidth(
    features, dc["kde_max_points"], derived_seed(cfg["seed"], f"kde:{space}") % 2**32
)
log.info("space %s: %d x %d features, KDE bandwidth %.4f", space, *features.shape, bandwidth)
write_npz(sm.output.features, features=features)
write_npz(sm.output.radii, k=np.array(dc["k"]), radii=radii, bandwidth=np.array(bandwidth))
with atomic_path(sm.output.index) as tmp:
    save_index(tmp, index)
