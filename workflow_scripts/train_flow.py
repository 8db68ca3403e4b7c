"""Rule train_flow: conditional flow matching of the velocity network; EMA weights saved."""

import torch
from _common import setup

from enfopath.checkpoint import save_checkpoint
from enfopath.data import ImageDataset
from enfopath.io import read_npz, write_csv
from enfopath.models import build_model, pick_device
from enfopath.seeding import derived_seed
from enfopath.training import FlowTraining, train_flow

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = sm.config
fc = cfg["flow"]
data = ImageDataset.from_arrays(read_npz(sm.input.dataset, ("x_train",)))
device = pick_device()
arch = {
    "shape": list(data.x_train.shape[1:]),
    "hidden": fc["hidden"],
    "depth": fc["depth"],
    "time_features": fc["time_features"],
}
training = FlowTraining.from_config(fc, cfg["seed"])
log.info("training velocity_mlp %s on %s with %s", arch, device, training)
model, losses = train_flow(
    build_model("velocity_mlp", arch, derived_seed(cfg["seed"], "init:flow")),
    torch.from_numpy(data.x_train),
    training,
    device,
)
meta = {"config": {"flow": fc, "seed": cfg["seed"]}, "final_loss": float(losses.loss.iloc[-1])}
save_checkpoint(sm.output.checkpoint, "velocity_mlp", arch, model, meta)
write_csv(sm.output.losses, losses)
