"""Helpers shared by the rules: the validated config, output paths and input functions."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir)))

from enfopath.config import (
    ConfigError,
    is_latent,
    n_shards,
    needed_models,
    validate_config,
)
from enfopath.figures import FIGURES, IMAGE_FIGURES

try:
    validate_config(config)
except ConfigError as err:
    raise WorkflowError(f"Config error: {err}") from None

OUT = f"results/{config['experiment']}"
SHARDS = list(range(n_shards(config)))
SPACES = config["density"]["spaces"]
PRETRAINED = config["flow"]["pretrained"]
NEEDS = needed_models(config)
LATENT = is_latent(config)
ASSETS = {
    name: section
    for name, section in (
        ("data", config["data"].get("source")),
        ("flow", PRETRAINED and PRETRAINED["checkpoint"]),
    )
    if section
}
"""Files fetched by URL or found by local path, by name (downloads/{name}.json manifests)."""
HUB_MODELS = sorted(NEEDS & {"clip", "vae"})
"""Models resolved from the Hugging Face hub or a local file / directory."""


wildcard_constraints:
    shard=r"\d+",
    space="|".join(SPACES),
    name="|".join(FIGURES),
    asset="data|flow",
    hub="clip|vae",


def out(path):
    """A path under this experiment's results folder."""
    return f"{OUT}/{path}"


def per_shard(pattern):
    """The file ``pattern`` (with a {shard} field) for every shard."""
    return expand(out(pattern), shard=SHARDS)


def per_space(pattern):
    """The file ``pattern`` (with a {space} field) for every density space."""
    return expand(out(pattern), space=SPACES)


MODEL_FILES = {
    "classifier": "models/classifier.pt",
    "clip": "downloads/clip.json",
    "vae": "downloads/vae.json",
}
SPACE_MODEL = {"classifier": "classifier", "clip": "clip", "latent": "vae"}


def with_models(models, **inputs):
    """``inputs`` plus the files of the auxiliary ``models`` (classifier, clip, vae)."""
    for model in sorted(set(models)):
        inputs[model] = out(MODEL_FILES[model])
    return inputs


def space_models(spaces):
    """The auxiliary models that embed into ``spaces``."""
    return {SPACE_MODEL[s] for s in spaces if s in SPACE_MODEL}


def gpu_for(models):
    """The gpu resource for jobs running ``models``, 1 for CLIP or the VAE, else 0."""
    return int(bool(set(models) & {"clip", "vae"}))


def semantic_models():
    """The model that scores semantics (classifier or clip)."""
    return {config["semantics"]["method"]}


def data_inputs(wildcards):
    """The downloaded tarball's manifest for a dataset fetched by URL or path."""
    return {"source": out("downloads/data.json")} if "data" in ASSETS else {}


def statistics_inputs(wildcards):
    """The merged table, plus what the summary records about the models used."""
    inputs = {"table": out("samples.parquet")}
    if "classifier" in NEEDS:
        inputs["classifier_metrics"] = out("models/classifier_metrics.json")
    return with_models(HUB_MODELS, **inputs)


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
