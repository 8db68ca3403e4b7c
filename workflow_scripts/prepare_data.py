"""Rule prepare_data: the dataset as arrays in [-1, 1] (or an image folder's file list)."""

import numpy as np
from _common import setup

from enfopath.io import write_npz
from enfopath.study.cifar import load_cifar10_tarball
from enfopath.study.datasets import DATASETS
from enfopath.study.download import fetched
from enfopath.study.imagefolder import list_image_folder

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = sm.params.config
dc = cfg["data"]
if dc["dataset"] == "image_folder":
    listing = list_image_folder(dc["folder"], dc["per_class"], cfg["seed"])
    names = listing["folders"]
    if dc["class_names"] == "imagenet":
        from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES

        if len(names) > len(IMAGENET_CLASSNAMES):
            raise ValueError(f"data.folder: {len(names)} class folders, ImageNet has 1000")
        names = np.array(IMAGENET_CLASSNAMES[: len(names)])
    log.info("%d reference images of %d classes", len(listing["paths"]), len(names))
    write_npz(
        sm.output.dataset,
        paths=listing["paths"],
        y_train=listing["labels"],
        folders=listing["folders"],
        class_names=names,
        image_size=np.array(dc["image_size"]),
    )
else:
    if dc["dataset"] == "cifar10":
        with fetched(sm.input.source) as tarball:
            dataset = load_cifar10_tarball(tarball)
    else:
        dataset = DATASETS[dc["dataset"]](cfg["seed"], dc["test_fraction"])
    log.info("train %s, test %s", dataset.x_train.shape, dataset.x_test.shape)
    write_npz(sm.output.dataset, **dataset.arrays())
