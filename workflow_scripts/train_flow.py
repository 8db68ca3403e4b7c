"""Rules train_flow and replicate_flow: conditional flow matching of the velocity network; EMA
weights saved, and the held-out loss of the EMA and the raw final weights recorded. A replicate
flow trains from its own seed (``params.train_seed``; the study's flow from the study's seed);
the held-out loss and the training monitor's noise (``flow.monitor``: the KPE of the EMA
weights at each evaluation step) draw from the study's seed for every flow, so they compare.
A replicate_flow job saves the EMA weights at each rung of the checkpoint ladder
(``replicates.flow_steps``; its seed may be the study's own: the ladder's run) as they stand at
that step (``output.rungs``), with the step and its held-out loss in the meta."""

import torch
from _common import job_config, setup

from enfopath.io import read_npz, write_csv, write_json
from enfopath.models.checkpoint import save_checkpoint
from enfopath.models.networks import build_model, flow_spec, pick_device
from enfopath.models.training import (
    FlowMonitor,
    FlowTraining,
    evaluation_steps,
    heldout_loss,
    train_flow,
)
from enfopath.seeding import derived_seed
from enfopath.study.split import ImageDataset

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = job_config(sm)
fc = cfg["flow"]
data = ImageDataset.from_arrays(read_npz(sm.input.dataset, ("x_train", "x_test")))
device = pick_device()
arch = {
    "shape": list(data.x_train.shape[1:]),
    "hidden": fc["hidden"],
    "depth": fc["depth"],
    "time_features": fc["time_features"],
}
train_seed = int(sm.params.train_seed)
training = FlowTraining.from_config(fc, train_seed)
x_heldout = torch.from_numpy(data.x_test)
monitor = FlowMonitor.from_config(
    fc["monitor"], flow_spec("velocity_mlp", arch), cfg["seed"], x_heldout, device
)
meta = {"config": {"flow": fc, "seed": cfg["seed"]}, "train_seed": train_seed}
rungs = (  # a replicate_flow job: the ladder's rungs of this run (train_flow has none)
    dict(zip(cfg["replicates"]["flow_steps"], sm.output.rungs, strict=True))
    if hasattr(sm.output, "rungs")
    else {}
)


def evaluate(step: int, ema: torch.nn.Module) -> None:
    """The monitor's row at each evaluation step; at a rung, the EMA weights saved too."""
    monitor(step, ema)
    if step in rungs:
        loss = monitor.rows[-1]["heldout_loss"]
        save_checkpoint(
            rungs[step], "velocity_mlp", arch, ema, {**meta, "step": step, "heldout_loss": loss}
        )
        log.info("rung at step %d saved: %s", step, rungs[step])


log.info("training velocity_mlp %s on %s with %s", arch, device, training)
model, raw, losses = train_flow(
    build_model("velocity_mlp", arch, derived_seed(train_seed, "init:flow")),
    torch.from_numpy(data.x_train),
    training,
    device,
    evaluate=evaluate,
    evaluate_at=evaluation_steps(fc["steps"], fc["monitor"]["every"], rungs),
)
seed = derived_seed(cfg["seed"], "heldout_loss")
metrics = {
    "heldout_loss_ema": heldout_loss(model, x_heldout, seed, device=device),
    "heldout_loss_raw": heldout_loss(raw, x_heldout, seed, device=device),
    "final_train_loss": float(losses.loss.iloc[-1]),
    "n_heldout": len(data.x_test),
}
log.info("held-out I-CFM loss: EMA %(heldout_loss_ema).4f, raw %(heldout_loss_raw).4f", metrics)
save_checkpoint(sm.output.checkpoint, "velocity_mlp", arch, model, {**meta, **metrics})
write_csv(sm.output.losses, losses)
write_csv(sm.output.kpe, monitor.table())
write_json(sm.output.metrics, metrics)
