"""Scoring generated endpoints: the semantic and density measures of one set of samples.

The study scores its shards in separate jobs (``semantics_shard``, ``features_shard``,
``density_shard``); the robustness stage and the replicate flows score other endpoints of the
same samples (each solver setting's, each replicate flow's) with the same models, reference
sets and rules through :func:`score_endpoints`, so that a measure means the same everywhere.
An endpoint set is a dict of arrays like a trajectory shard's: ``sample`` (N,), ``label``
(N,), ``x1`` (N, *shape) and, for a latent flow, the decoded ``image`` (N, 3, H, W) uint8.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from enfopath.measures.density import Reference, density_measures
from enfopath.measures.features import FeatureModels, sample_features
from enfopath.measures.images import shard_images
from enfopath.measures.semantics import Semantics, sample_semantics


@dataclass(frozen=True)
class Scorer:
    """What scoring reads: how samples are scored (``semantic``: the method, CLIP's class
    names and template), the feature ``models`` (with their batch sizes), and each density
    space's reference set in the config's order."""

    semantic: Semantics
    models: FeatureModels
    references: dict[str, Reference]

    def semantics(self, endpoints: dict[str, np.ndarray]) -> pd.DataFrame:
        """The semantic scores (N rows; flagged samples scored too, never analysed)."""
        return sample_semantics(
            self.semantic, shard_images(endpoints), endpoints["label"], self.models
        )

    def density(self, features: dict[str, np.ndarray]) -> pd.DataFrame:
        """Every density measure of every space, from the endpoints' features by space."""
        return pd.concat(
            [density_measures(ref, features[s], prefix=s) for s, ref in self.references.items()],
            axis=1,
        )

    def features(self, endpoints: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The endpoints' features in every density space."""
        return {s: sample_features(s, endpoints, self.models) for s in self.references}


def score_endpoints(scorer: Scorer, endpoints: dict[str, np.ndarray]) -> pd.DataFrame:
    """One row per endpoint: ``sample``, ``label``, the semantic scores and every density
    measure (the columns of the study's merged table that these stages add)."""
    scores = scorer.semantics(endpoints)
    scores.insert(0, "sample", endpoints["sample"])
    scores.insert(1, "label", endpoints["label"])
    return pd.concat([scores, scorer.density(scorer.features(endpoints))], axis=1)
