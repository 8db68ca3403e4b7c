"""Rule empirical_flow: the training set's closed-form flow saved as the study's checkpoint
(nothing is trained: the checkpoint holds the training images themselves)."""

import torch
from _common import setup

from enfopath.io import read_npz
from enfopath.models.checkpoint import save_checkpoint
from enfopath.models.empirical import EmpiricalFlow

sm = snakemake  # noqa: F821
log = setup(sm)
x_train = torch.from_numpy(read_npz(sm.input.dataset, ("x_train",))["x_train"]).float()
flow = EmpiricalFlow.of(x_train)
log.info("empirical flow of %d training points of shape %s", len(x_train), list(flow.shape))
arch = {"shape": list(flow.shape), "n": len(x_train)}
save_checkpoint(sm.output.checkpoint, "empirical", arch, flow, {"training_points": len(x_train)})
