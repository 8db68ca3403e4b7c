"""A data set as arrays: the train / test split every array data set (digits, CIFAR-10, the 2-D
sets) becomes, and what ``data/dataset.npz`` holds for it (numpy only)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ImageDataset:
    """A train/test split of images in [-1, 1], shape (N, C, H, W), with integer labels (or of
    points in the plane, shape (N, 2), for a 2-D data set)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]

    def arrays(self) -> dict[str, np.ndarray]:
        """The split as named arrays (for an ``.npz``)."""
        return {
            "x_train": self.x_train,
            "y_train": self.y_train,
            "x_test": self.x_test,
            "y_test": self.y_test,
            "class_names": np.array(self.class_names),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> ImageDataset:
        return cls(
            x_train=arrays["x_train"],
            y_train=arrays["y_train"],
            x_test=arrays["x_test"],
            y_test=arrays["y_test"],
            class_names=[str(c) for c in arrays["class_names"]],
        )
