"""Rule prepare_data: the dataset split, as arrays in [-1, 1]."""

from _common import setup

from enfopath.data import DATASETS
from enfopath.io import write_npz

log = setup(snakemake)  # noqa: F821
cfg = snakemake.config  # noqa: F821
dataset = DATASETS[cfg["data"]["dataset"]](cfg["seed"], cfg["data"]["test_fraction"])
log.info("train %s, test %s", dataset.x_train.shape, dataset.x_test.shape)
write_npz(snakemake.output.dataset, **dataset.arrays())  # noqa: F821
