"""Datasets as arrays, and the reference images of a prepared dataset.

The embedded dataset is scikit-learn's bundled digits (1,797 images of 8×8, 10 classes), scaled
from [0, 16] to [-1, 1] and kept as (N, 1, 8, 8) float32; no download. CIFAR-10 lives in
:mod:`enfopath.study.cifar`, image folders in :mod:`enfopath.study.imagefolder`; the
split every array data set becomes is :class:`enfopath.study.split.ImageDataset`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from enfopath.seeding import derived_seed
from enfopath.study.cifar import load_cifar10_tarball
from enfopath.study.imagefolder import list_image_folder, load_images
from enfopath.study.split import ImageDataset


def load_sklearn_digits(seed: int, test_fraction: float) -> ImageDataset:
    """Digits scaled to [-1, 1] and split (stratified) by a seed derived from the config seed."""
    from sklearn.datasets import load_digits  # only this data set needs scikit-learn
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images.astype(np.float32) / 8.0 - 1.0)[:, None, :, :]
    y = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x,
        y,
        test_size=test_fraction,
        stratify=y,
        random_state=derived_seed(seed, "split") % 2**32,
    )
    return ImageDataset(x_tr, y_tr, x_te, y_te, [str(c) for c in digits.target_names])


def load_two_moons(seed: int, test_fraction: float, n: int = 2000) -> ImageDataset:
    """scikit-learn's two moons (noise 0.06), ``n`` points drawn from a seed derived from the
    config seed, moved and scaled into [-1, 1]² (state shape (2,)), labels 0 = upper moon and
    1 = lower moon, split (stratified) like the digits."""
    from sklearn.datasets import make_moons
    from sklearn.model_selection import train_test_split

    x, y = make_moons(n, noise=0.06, random_state=derived_seed(seed, "two_moons") % 2**32)
    x = ((x - np.array([0.5, 0.25])) / 1.8).astype(np.float32)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x,
        y.astype(np.int64),
        test_size=test_fraction,
        stratify=y,
        random_state=derived_seed(seed, "split") % 2**32,
    )
    return ImageDataset(x_tr, y_tr, x_te, y_te, ["upper moon", "lower moon"])


DATASETS = {"sklearn_digits": load_sklearn_digits, "two_moons": load_two_moons}


def reference_batches(dataset: dict[str, np.ndarray], batch_size: int) -> Iterator[np.ndarray]:
    """The reference (training) images of a prepared dataset in batches (B, C, H, W) in [-1, 1].

    An array dataset holds them as ``x_train``; an image folder as the ``paths`` of its files,
    read (each checked against the ``sha256`` listed with it) and centre-cropped to
    ``image_size`` batch by batch.
    """
    if "x_train" in dataset:
        x = dataset["x_train"]
        for s in range(0, len(x), batch_size):
            yield x[s : s + batch_size]
        return
    paths, size = dataset["paths"], int(dataset["image_size"])
    digests = dataset.get("sha256")  # listed by prepare_data (absent in older listings)
    for s in range(0, len(paths), batch_size):
        part = None if digests is None else digests[s : s + batch_size]
        yield load_images(paths[s : s + batch_size], size, part)


def image_shape(dataset: dict[str, np.ndarray]) -> tuple[int, ...]:
    """The shape (C, H, W) of one image of a prepared dataset (of one point, (2,), in the
    plane): what generated images must have to be scored and compared with it."""
    if "x_train" in dataset:
        return tuple(int(s) for s in dataset["x_train"].shape[1:])
    size = int(dataset["image_size"])
    return (3, size, size)


def n_reference(dataset: dict[str, np.ndarray]) -> int:
    """Number of reference images of a prepared dataset."""
    return len(dataset["x_train"] if "x_train" in dataset else dataset["paths"])


def prompt_dataset(config: dict[str, Any], prompt_file: str | os.PathLike[str]) -> dict:
    """The arrays of a text-to-image study's ``data/dataset.npz``: its prompts as the classes
    (``class_names`` the texts, ``prompt_ids``, ``categories``, in the file's order: a sample's
    label is its prompt's row) and, with ``data.folder``, the reference folder's file list as
    for an image folder (``paths``, ``sha256``, ``y_train``, ``folders``, ``image_size``)."""
    from enfopath.study.prompts import read_prompts

    prompts = read_prompts(prompt_file)
    arrays = {
        "class_names": np.array([p.text for p in prompts]),
        "prompt_ids": np.array([p.id for p in prompts]),
        "categories": np.array([p.category for p in prompts]),
    }
    data = config["data"]
    if "folder" in data:
        listing = list_image_folder(data["folder"], data["per_class"], config["seed"])
        arrays |= {
            "paths": listing["paths"],
            "sha256": listing["sha256"],
            "y_train": listing["labels"],
            "folders": listing["folders"],
            "image_size": np.array(data["image_size"]),
        }
    return arrays


def prepare_dataset(
    config: dict[str, Any],
    tarball: str | os.PathLike[str] | None = None,
    prompt_file: str | os.PathLike[str] | None = None,
) -> dict[str, np.ndarray]:
    """The arrays of ``data/dataset.npz`` for the config's ``data`` section (and ``seed``, read
    only by the data sets drawn with it): a data set's
    train / test images in [-1, 1] with labels and class names (:class:`ImageDataset`, CIFAR-10
    from its downloaded ``tarball``), or an image folder's file list (``paths``, ``y_train``,
    ``sha256``, ``folders``, ``class_names``, ``image_size``; its images are read, and checked
    against their ``sha256``, when embedded), or a prompt set's (:func:`prompt_dataset`, from
    its ``prompt_file``). ImageNet
    class names (``data.class_names: imagenet``) are open_clip's, in the folders' sorted order."""
    data = config["data"]
    if data["dataset"] == "prompts":
        if prompt_file is None:
            raise ValueError("data.dataset prompts: the prompt file (prompts.file) is needed")
        return prompt_dataset(config, prompt_file)
    if data["dataset"] == "cifar10":
        if tarball is None:
            raise ValueError("data.source: cifar10 needs its downloaded tarball")
        return load_cifar10_tarball(tarball).arrays()
    if data["dataset"] != "image_folder":
        return DATASETS[data["dataset"]](config["seed"], data["test_fraction"]).arrays()
    listing = list_image_folder(data["folder"], data["per_class"], config["seed"])
    names = listing["folders"]
    if data["class_names"] == "imagenet":
        from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES

        if len(names) > len(IMAGENET_CLASSNAMES):
            raise ValueError(f"data.folder: {len(names)} class folders, ImageNet has 1000")
        names = np.array(IMAGENET_CLASSNAMES[: len(names)])
    return {
        "paths": listing["paths"],
        "sha256": listing["sha256"],
        "y_train": listing["labels"],
        "folders": listing["folders"],
        "class_names": names,
        "image_size": np.array(data["image_size"]),
    }
