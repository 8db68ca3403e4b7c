"""Rule train_classifier: the semantic scorer, with its test accuracy checked and written."""

import torch
from _common import job_config, setup

from enfopath.io import read_npz, write_json
from enfopath.models.checkpoint import save_checkpoint
from enfopath.models.networks import build_model, pick_device
from enfopath.models.training import accuracy, check_accuracy, train_classifier
from enfopath.seeding import derived_seed
from enfopath.study.split import ImageDataset

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = job_config(sm)
cc = cfg["classifier"]
data = ImageDataset.from_arrays(read_npz(sm.input.dataset, ("x_train", "y_train")))
device = pick_device()
arch = {
    "shape": list(data.x_train.shape[1:]),
    "classes": len(data.class_names),
    "hidden": cc["hidden"],
    "dropout": cc["dropout"],
}
model, losses = train_classifier(
    build_model("classifier_mlp", arch, derived_seed(cfg["seed"], "init:classifier")),
    torch.from_numpy(data.x_train),
    torch.from_numpy(data.y_train),
    epochs=cc["epochs"],
    batch_size=cc["batch_size"],
    lr=cc["lr"],
    seed=cfg["seed"],
    device=device,
)
test_acc = accuracy(model, torch.from_numpy(data.x_test), torch.from_numpy(data.y_test), device)
train_acc = accuracy(model, torch.from_numpy(data.x_train), torch.from_numpy(data.y_train), device)
log.info("classifier accuracy: train %.4f, test %.4f", train_acc, test_acc)
check_accuracy(test_acc, cc["min_test_accuracy"])
metrics = {
    "test_accuracy": test_acc,
    "train_accuracy": train_acc,
    "n_test": len(data.y_test),
    "final_loss": float(losses.loss.iloc[-1]),
    "class_names": data.class_names,
}
save_checkpoint(sm.output.checkpoint, "classifier_mlp", arch, model, {"metrics": metrics})
write_json(sm.output.metrics, metrics)
