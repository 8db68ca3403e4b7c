"""Helpers shared by the rules: the validated config, output paths and input functions."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir)))

from enfopath.config import ConfigError, n_shards, validate_config
from enfopath.figures import FIGURES, IMAGE_FIGURES

try:
    validate_config(config)
except ConfigError as err:
    raise WorkflowError(f"Config error: {err}") from None

OUT = f"results/{config['experiment']}"
SHARDS = list(range(n_shards(config)))
SPACES = config["density"]["spaces"]


wildcard_constraints:
    shard=r"\d+",
    space="|".join(SPACES),
    name="|".join(FIGURES),


def out(path):
    """A path under this experiment's results folder."""
    return f"{OUT}/{path}"


def per_shard(pattern):
    """The file ``pattern`` (with a {shard} field) for every shard."""
    return expand(out(pattern), shard=SHARDS)


def per_space(pattern):
    """The file ``pattern`` (with a {space} field) for every density space."""
    return expand(out(pattern), space=SPACES)


def with_classifier(space_needs, **inputs):
    """``inputs`` plus the classifier checkpoint when a needed space is ``classifier``."""
    if "classifier" in space_needs:
        inputs["classifier"] = out("models/classifier.pt")
    return inputs


def figure_inputs(wildcards):
    """The merged table, plus the trajectory shards for the figures that show samples."""
    inputs = {"table": out("samples.parquet")}
    if wildcards.name in IMAGE_FIGURES:
        inputs["shards"] = per_shard("trajectories/shard_{shard}.npz")
    return inputs


def statistics_outputs():
    return {
        name: out(f"statistics/{name}.csv")
        for name in ("correlations", "groups", "quantile_curves", "summary")
    }


def all_outputs():
    """Everything the default target builds."""
    return [
        out("samples.parquet"),
        out("statistics/statistics.json"),
        *statistics_outputs().values(),
        *expand(out("figures/{name}.png"), name=FIGURES),
    ]
