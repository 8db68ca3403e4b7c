"""Loading and validating a study configuration against ``config.schema.yaml``.

Validation refuses non-finite numbers anywhere, turns what YAML reads loosely into the type the
schema asks for (an integral float such as ``128.0`` at an integer key, a numeric string such
as ``1e-5`` — YAML 1.1 reads an exponent without a dot as text — at a number key), fills in
the schema's defaults, then checks what a schema cannot express (sizes that must divide one
another). Every error names the offending config key.

``python -m enfopath.study.config FILE [FILE ...]`` checks config files as Snakemake would merge
them (``config.yaml`` first, then each file given) and names the file and line of a YAML error,
which Snakemake's own message for ``--configfile`` leaves out.
"""

from __future__ import annotations

import copy
import importlib.util
import math
import sys
from collections.abc import Iterable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from enfopath.io import ExplainedError
from enfopath.measures.bands import band_sizes
from enfopath.study.download import url_problem
from enfopath.user_code import standard_library_refusal

SCHEMA_FILE = "config.schema.yaml"


class ConfigError(ExplainedError, ValueError):
    """The configuration is invalid; the message names the key."""


def schema() -> dict[str, Any]:
    """The configuration's JSON schema (a dict)."""
    return yaml.safe_load(resources.files("enfopath.study").joinpath(SCHEMA_FILE).read_text())


def _with_defaults(cls: type[jsonschema.protocols.Validator]) -> Any:
    validate_properties = cls.VALIDATORS["properties"]

    def set_defaults(
        validator: Any, properties: dict[str, Any], instance: Any, sch: dict[str, Any]
    ) -> Iterator[jsonschema.ValidationError]:
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub:
                    instance.setdefault(name, copy.deepcopy(sub["default"]))
        yield from validate_properties(validator, properties, instance, sch)

    return jsonschema.validators.extend(cls, {"properties": set_defaults})


def _strict_integer(checker: Any, instance: Any) -> bool:
    return isinstance(instance, int) and not isinstance(instance, bool)


_Validator = _with_defaults(
    jsonschema.validators.extend(
        jsonschema.Draft7Validator,
        type_checker=jsonschema.Draft7Validator.TYPE_CHECKER.redefine("integer", _strict_integer),
    )
)


def _key(path: Any) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def _refuse_non_finite(value: Any, path: tuple[Any, ...] = ()) -> None:
    """Raise ConfigError naming the first NaN or infinite number (range checks pass NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"invalid config key '{_key(path)}': {value} is not a finite number")
    if isinstance(value, dict):
        for k, v in value.items():
            _refuse_non_finite(v, (*path, k))
    if isinstance(value, list):
        for i, v in enumerate(value):
            _refuse_non_finite(v, (*path, i))


def _coerced(value: Any, types: str | list[str]) -> int | float | None:
    """``value`` as the number the schema's ``types`` ask for, or None if it is not one."""
    types = [types] if isinstance(types, str) else types
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
        if not math.isfinite(value):
            return None
        if "number" in types:
            return value
    if "integer" in types and isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _coerce_numbers(config: dict[str, Any]) -> None:
    """Rewrite, in place, each value that fails a number/integer type check only because of how
    YAML read it (``128.0``, ``'1e-5'``)."""
    validator = _Validator(schema())
    for _ in range(1000):  # each pass fixes at least one value; a config has fewer
        fixes = [
            (error.absolute_path, new)
            for error in validator.iter_errors(copy.deepcopy(config))
            if error.validator == "type"
            and (new := _coerced(error.instance, error.validator_value)) is not None
        ]
        if not fixes:
            return
        for path, new in fixes:
            *parents, leaf = path
            node = config
            for p in parents:
                node = node[p]
            node[leaf] = new


def _message(error: jsonschema.ValidationError) -> str:
    key = _key(error.absolute_path)
    if error.validator == "type" and error.validator_value in ("integer", "number"):
        kind = "an integer" if error.validator_value == "integer" else "a number"
        example = "128" if error.validator_value == "integer" else "1.0e-5 or 0.5"
        return (
            f"invalid config key '{key}': {error.instance!r} is not {kind} (write e.g. {example})"
        )
    if error.validator in ("pattern", "not") and "description" in error.schema:
        what = " ".join(error.schema["description"].split())
        return f"invalid config key '{key}': {error.instance!r} is refused. {what}"
    return f"invalid config key '{key}': {error.message}"


RENAMED = {
    "sampling.kts.tau": "sampling.kts.switch_time",
    "sampling.kts.k": "sampling.kts.landing_sharpness",
}
"""Config keys renamed, old → new (KTS's τ and k had the names of sampling.tau and density.k)."""


def _refuse_renamed(config: dict[str, Any]) -> None:
    for old, new in RENAMED.items():
        *parents, leaf = old.split(".")
        part: Any = config
        for name in parents:
            part = part.get(name) if isinstance(part, dict) else None
        if isinstance(part, dict) and leaf in part:
            raise ConfigError(f"config key '{old}' is now '{new}': rename it in the study file")


def _schema_message(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties":
        path = [str(p) for p in error.absolute_path]
        known = set(error.schema.get("properties", {}))
        unknown = sorted(k for k in error.instance if k not in known)
        keys = ", ".join(f"'{'.'.join([*path, k])}'" for k in unknown)
        return f"unknown config key {keys}; allowed here: {sorted(known)}"
    return _message(error)


def _schema_errors(config: dict[str, Any]) -> list[str]:
    """Every schema error of ``config``, one message each, the most relevant first (jsonschema's
    ``best_match`` over all, then each remaining error's own best match), so one check names
    every bad key at once."""
    errors = list(_Validator(schema()).iter_errors(config))
    if not errors:
        return []
    first = jsonschema.exceptions.best_match(errors)
    messages = [_schema_message(first)]
    for error in errors:
        message = _schema_message(jsonschema.exceptions.best_match([error]))
        if message not in messages:
            messages.append(message)
    return messages


def schema_checked(config: dict[str, Any]) -> dict[str, Any]:
    """Check ``config`` against the schema alone, in place (renamed keys refused, non-finite
    numbers refused, numbers coerced, defaults filled in), and return it: what every key's own
    value must be, none of a study's checks across keys. Raises :class:`ConfigError` naming
    every key the schema refuses (one per line when there are several)."""
    _refuse_renamed(config)
    _refuse_non_finite(config)
    _coerce_numbers(config)
    errors = _schema_errors(config)
    if len(errors) == 1:
        raise ConfigError(errors[0])
    if errors:
        listed = "\n".join(f"  {i}. {message}" for i, message in enumerate(errors, 1))
        raise ConfigError(f"{len(errors)} config errors:\n{listed}")
    return config


def validate_config(config: dict[str, Any]) -> dict[str, Any]:
    """Validate ``config`` in place (numbers coerced, defaults filled in) and return it.

    Raises :class:`ConfigError` naming every key the schema refuses (one per line when there
    are several), else the first key a cross-key check refuses (and the new name of a renamed
    one, :data:`RENAMED`).
    """
    schema_checked(config)
    s = config["sampling"]
    if s["n_samples"] % s["shard_size"]:
        raise ConfigError(
            f"invalid config key 'sampling.shard_size': {s['shard_size']} does not divide "
            f"sampling.n_samples = {s['n_samples']} (set sampling.shard_size to a divisor of "
            f"it, e.g. {math.gcd(s['n_samples'], s['shard_size'])})"
        )
    if s["shard_size"] % s["batch_size"]:
        raise ConfigError(
            f"invalid config key 'sampling.batch_size': {s['batch_size']} does not divide "
            f"sampling.shard_size = {s['shard_size']}"
        )
    _check_sample_count(config)
    for section in ("robustness", "schedules", "grid_calibration", "early_rejection"):
        part = config[section]  # the study's own samples: a smaller study re-integrates them all
        part["n_samples"] = min(part["n_samples"], s["n_samples"])
    _check_replicates(config)
    _check_energy_grid(config)
    _check_checkpoints(config)
    _check_sources(config)
    _check_text_to_image(config)
    config["density"]["k"] = sorted(config["density"]["k"])
    return config


def minimum_samples(config: dict[str, Any]) -> tuple[int, str]:
    """The fewest samples the statistics of a (defaults-filled) config can work on, and why:
    ``statistics.bins`` quantile bins of at least one sample each, with the PRDC stage every
    KPE band (:func:`enfopath.measures.bands.band_sizes`) larger than the largest
    ``density.k`` (precision and recall need the k-th neighbour of a generated sample within
    its band), and with the Fréchet stage 2 samples in every band (a covariance)."""
    st, k = config["statistics"], max(config["density"]["k"])
    need, why = st["bins"], f"one per quantile bin, statistics.bins = {st['bins']}"
    if st["prdc"]:
        n = need
        while min(band_sizes(n, st["group_quantile"])) <= k:
            n += 1
        if n > need:
            need = n
            why = (
                f"statistics.prdc: each KPE band, statistics.group_quantile = "
                f"{st['group_quantile']} of the samples, must hold more than max(density.k) = {k}"
            )
    if st["fidelity"]:
        n = need
        while min(band_sizes(n, st["group_quantile"])) < 2:
            n += 1
        if n > need:
            need = n
            why = (
                f"statistics.fidelity: each KPE band, statistics.group_quantile = "
                f"{st['group_quantile']} of the samples, needs 2 samples for a covariance"
            )
    return need, why


def _check_sample_count(config: dict[str, Any]) -> None:
    n = config["sampling"]["n_samples"]
    need, why = minimum_samples(config)
    if n < need:
        _fail(
            "sampling.n_samples",
            f"{n} samples are too few for this study's statistics, which need at least {need} "
            f"({why})",
        )


def _check_energy_grid(config: dict[str, Any]) -> None:
    """The energy grid is calibrated on the study's own flow: no job samples another on it."""
    flow, rep = config["flow"], config["replicates"]
    if config["sampling"]["grid"] == "energy":
        other = [
            key
            for key, on in (
                ("replicates.flow_seeds", rep["flow_seeds"]),
                ("replicates.flow_steps", rep["flow_steps"]),
                ("flow.checkpoints", flow["checkpoints"]),
                ("flow.diffusers", flow["diffusers"]),
            )
            if on
        ]
        if other:
            _fail(
                "sampling.grid",
                f"energy: the grid is calibrated on the study's own flow, and {other[0]} "
                "samples other flows (or a pipeline's own schedule): use uniform or cosine",
            )


def _check_replicates(config: dict[str, Any]) -> None:
    """Replicate flows are trained here, from seeds other than the study's, and a ladder's
    rungs are steps before the end of that training, on at most the study's samples
    (``replicates.n_samples`` null becomes ``sampling.n_samples``)."""
    rep, flow = config["replicates"], config["flow"]
    if not rep["flow_seeds"] and not rep["flow_steps"]:
        return
    key = "replicates.flow_seeds" if rep["flow_seeds"] else "replicates.flow_steps"
    if not trains_flow(config):
        _fail(
            key,
            "replicates and ladder rungs are flows trained here (other seeds, earlier steps): a "
            "pretrained, plugin, diffusers or empirical flow has no training seed or step to "
            "change",
        )
    for step in rep["flow_steps"]:
        if step >= flow["steps"]:
            _fail(
                "replicates.flow_steps",
                f"step {step} is not before the end of training (flow.steps = {flow['steps']}): "
                + (
                    "the last step is the study's own flow, the ladder's top rung already"
                    if step == flow["steps"]
                    else "a rung must be a step of the study's training run"
                ),
            )
    if config["seed"] in rep["flow_seeds"]:
        _fail(
            "replicates.flow_seeds",
            f"seed {config['seed']} is the study's own (its flow is the first of the spread); "
            "give other seeds",
        )
    _check_replicate_samples(config)


def _check_checkpoints(config: dict[str, Any]) -> None:
    """A ladder of a flow trained elsewhere: the checkpoints of a pretrained or plug-in flow
    with its own checkpoint, each at its own step before the study's flow's."""
    flow = config["flow"]
    rungs = flow["checkpoints"]
    if not rungs:
        if flow["checkpoint_step"] is not None:
            _fail("flow.checkpoint_step", "is the top rung of flow.checkpoints, which is empty")
        return
    slot = flow["pretrained"] or flow["plugin"]
    if slot is None or slot["checkpoint"] is None:
        _fail(
            "flow.checkpoints",
            "a ladder of checkpoints trained elsewhere needs flow.pretrained or flow.plugin with "
            "its own checkpoint (the top rung); a flow trained here takes "
            "replicates.flow_steps",
        )
    top = flow["checkpoint_step"]
    if top is None:
        _fail("flow.checkpoint_step", "the training step of the study's own checkpoint is needed")
    steps = [r["step"] for r in rungs]
    for i, rung in enumerate(rungs):
        _check_asset(rung["checkpoint"], f"flow.checkpoints[{i}].checkpoint")
    for i, step in enumerate(steps):
        if steps.index(step) != i:
            _fail(f"flow.checkpoints[{i}].step", f"step {step} is given twice")
        if step >= top:
            _fail(
                f"flow.checkpoints[{i}].step",
                f"step {step} is not before the study's checkpoint (flow.checkpoint_step = {top})",
            )
    _check_replicate_samples(config)


def _check_replicate_samples(config: dict[str, Any]) -> None:
    """At most the study's samples through each replicate and rung."""
    rep = config["replicates"]
    n = config["sampling"]["n_samples"]
    if rep["n_samples"] is None:
        rep["n_samples"] = n
    elif rep["n_samples"] > n:
        _fail(
            "replicates.n_samples",
            f"{rep['n_samples']} is more than the study's sampling.n_samples = {n}: the "
            "replicates run the study's own noise",
        )


def _fail(key: str, message: str) -> None:
    raise ConfigError(f"invalid config key '{key}': {message}")


def _check_asset(asset: dict[str, Any], key: str) -> None:
    if ("url" in asset) == ("path" in asset):
        _fail(key, "give exactly one of url and path")
    problem = url_problem(asset["url"]) if "url" in asset else None
    if problem is not None:
        _fail(f"{key}.url", problem)


def _check_sources(config: dict[str, Any]) -> None:
    """What the schema cannot say: which sections a dataset / model / space needs."""
    data, pretrained, plugin = (
        config["data"],
        config["flow"]["pretrained"],
        config["flow"]["plugin"],
    )
    spaces, method = config["density"]["spaces"], config["semantics"]["method"]
    if data["dataset"] == "cifar10":
        if "source" not in data:
            _fail("data.source", "dataset cifar10 needs the tarball's url (or path) and md5")
        _check_asset(data["source"], "data.source")
    if data["dataset"] != "cifar10" and "source" in data:
        _fail("data.source", f"only dataset cifar10 is downloaded, not {data['dataset']}")
    if data["dataset"] == "image_folder":
        if "folder" not in data:
            _fail("data.folder", "dataset image_folder needs the folder of class subfolders")
        if pretrained is None and plugin is None:
            _fail(
                "flow.pretrained",
                "an image_folder dataset needs a pretrained flow (or flow.plugin)",
            )
        for key, uses in (
            ("semantics.method", method == "classifier"),
            ("density.spaces", "classifier" in spaces),
        ):
            if uses:
                _fail(key, "the classifier is trained on array datasets, not on an image_folder")
    if data["class_names"] == "imagenet" and data["dataset"] != "image_folder":
        _fail("data.class_names", "imagenet names index the classes of an image_folder")
    if pretrained is not None:
        _check_asset(pretrained["checkpoint"], "flow.pretrained.checkpoint")
    if plugin is not None:
        if pretrained is not None:
            _fail("flow.plugin", "give flow.pretrained or flow.plugin, not both")
        check_plugin(plugin)
    if config["flow"]["model"] == "empirical":
        if pretrained is not None or plugin is not None or config["flow"]["diffusers"]:
            _fail(
                "flow.model",
                "the empirical flow is the data set's own; drop pretrained / plugin / diffusers",
            )
        if config["sampling"]["t_end"] >= 1.0:
            _fail(
                "sampling.t_end",
                "the empirical flow diverges at t = 1: integrate to 1 - eps (e.g. 0.999)",
            )
        if data["dataset"] == "image_folder":
            _fail("flow.model", "the empirical flow needs the training images as arrays")
    if is_plane(config) and (pretrained is not None or plugin is not None):
        _fail("data.dataset", "a 2-D data set goes with a trained or empirical flow")
    if is_plane(config) and set(spaces) - {"pixels", "classifier"}:
        _fail("density.spaces", "a 2-D study has the plane (pixels) and classifier spaces")
    if config["compare"]["baseline"] == config["experiment"]:
        _fail("compare.baseline", "a study is compared with another experiment, not itself")
    control = config["compare"]["control"]
    if control is not None and config["compare"]["baseline"] is None:
        _fail("compare.control", "a control is compared with the baseline: set compare.baseline")
    if control is not None and control in (config["experiment"], config["compare"]["baseline"]):
        _fail("compare.control", "the control is a third experiment, not this study or baseline")
    kts = config["sampling"]["kts"]
    k = kts["landing_sharpness"]
    if kts["beta0"] * math.expm1(k) >= 1.0:
        _fail(
            "sampling.kts.beta0",
            f"the landing reverses the flow: eta(1) = 1 - beta0 (e^k - 1) = "
            f"{1 - kts['beta0'] * math.expm1(k):.3g} must stay above 0 (k: landing_sharpness)",
        )
    if not config["sampling"]["tau"] < config["sampling"]["t_end"]:
        _fail("sampling.tau", "the early / late split must lie below sampling.t_end")
    late = [s for s in config["early_rejection"]["check_times"] if s >= config["sampling"]["t_end"]]
    if config["early_rejection"]["enabled"] and late:
        _fail(
            "early_rejection.check_times",
            f"{late[0]} is not below sampling.t_end = {config['sampling']['t_end']}: "
            "nothing would be left to stop",
        )
    if "latent" in spaces and not is_latent(config):
        _fail("density.spaces", "the latent space needs a latent flow (flow.pretrained.model sit)")
    if config["statistics"]["memorization"] and "pixels" not in spaces:
        _fail(
            "statistics.memorization",
            "memorization is judged in pixel space: add pixels to density.spaces, or set "
            "statistics.memorization: false",
        )


T2I_SPACES = ("clip", "pixels")
"""The density spaces of a text-to-image study (no classifier is trained on its prompts, and its
latent is not the SD-VAE's of ``density.spaces: latent``)."""


def _check_text_to_image(config: dict[str, Any]) -> None:
    """A text-to-image study (``flow.diffusers``) goes with its prompt set (``data.dataset
    prompts``, ``prompts.file``, one sample per prompt and seed), CLIP semantics against the
    prompts, density against a reference folder or among the samples (``density.reference``,
    never silently the one for the other), and the stages that need nothing it lacks."""
    flow, data, density = config["flow"], config["data"], config["density"]
    diffusers = flow["diffusers"]
    t2i = data["dataset"] == "prompts"
    if diffusers is None and t2i:
        _fail("data.dataset", "the prompts data set is sampled by a flow.diffusers pipeline")
    if diffusers is not None and not t2i:
        _fail("data.dataset", "a flow.diffusers pipeline samples a prompt set: set prompts")
    if density["reference"] == "samples" and not t2i:
        _fail(
            "density.reference",
            "density among the samples is for a study without its training data (data.dataset "
            "prompts); this study's data set is its reference set",
        )
    if diffusers is None:
        if config["sampling"]["grid"] == "shifted":
            _fail(
                "sampling.grid",
                "shifted is a text-to-image pipeline's own schedule: it needs flow.diffusers",
            )
        if config["schedules"]["enabled"] and "shifted" in config["schedules"]["grids"]:
            _fail(
                "schedules.grids",
                "shifted is a text-to-image pipeline's own schedule: it needs flow.diffusers "
                "(compare uniform, cosine and energy here)",
            )
        return
    for other in ("pretrained", "plugin"):
        if flow[other] is not None:
            _fail(f"flow.{other}", "give flow.diffusers or flow." + other + ", not both")
    if (diffusers["source"] is None) == (diffusers["tiny"] is None):
        _fail("flow.diffusers", "give exactly one of source (a folder or hub id) and tiny")
    if (
        diffusers["tiny"] is not None
        and diffusers["tiny"] != "sd3"
        and diffusers["negative_prompt"]
    ):
        _fail("flow.diffusers.negative_prompt", "FLUX.1 has no classifier-free guidance")
    if diffusers["tiny"] == "flux-schnell" and diffusers["guidance"] != 1.0:
        _fail("flow.diffusers.guidance", "FLUX.1-schnell has no guidance: set 1")
    n_prompts = _prompt_count(config["prompts"])
    spp, n = config["prompts"]["samples_per_prompt"], config["sampling"]["n_samples"]
    if n != n_prompts * spp:
        _fail(
            "sampling.n_samples",
            f"{n} samples; the prompt set asks for {n_prompts} prompts × "
            f"prompts.samples_per_prompt {spp} = {n_prompts * spp}",
        )
    if config["semantics"]["method"] != "clip":
        _fail("semantics.method", "a text-to-image study is scored by CLIP against its prompts")
    refused = sorted(set(density["spaces"]) - set(T2I_SPACES))
    if refused:
        _fail("density.spaces", f"{refused}: a text-to-image study has the spaces {T2I_SPACES}")
    if density["reference"] == "data" and "folder" not in data:
        _fail(
            "density.reference",
            "a text-to-image model's training set is not at hand: name a reference folder "
            "(data.folder) or measure density among the samples (density.reference: samples)",
        )
    side = diffusers["resolution"]
    pixels = density["reference"] == "data" and "pixels" in density["spaces"]
    if pixels and data["image_size"] != side:
        _fail(
            "data.image_size",
            f"{data['image_size']}: pixel-space density compares the samples with the "
            f"reference images, so they are cropped to the samples' size, "
            f"flow.diffusers.resolution = {side}",
        )
    statistics = config["statistics"]
    for key, on, why in (
        (
            "statistics.memorization",
            statistics["memorization"] and density["reference"] == "samples",
            "copies are judged against reference images: give data.folder and "
            "density.reference data",
        ),
        (
            "statistics.prdc",
            statistics["prdc"] and density["reference"] == "samples",
            "precision and recall compare the samples with a reference set: give data.folder "
            "and density.reference data",
        ),
        (
            "statistics.fidelity",
            statistics["fidelity"] and density["reference"] == "samples",
            "the Fréchet and kernel distances compare the samples with a reference set: give "
            "data.folder and density.reference data",
        ),
        (
            "robustness.enabled",
            config["robustness"]["enabled"],
            "the solver-robustness stage re-integrates a trained or released flow's checkpoint, "
            "not a pipeline yet",
        ),
        (
            "early_rejection.enabled",
            config["early_rejection"]["enabled"],
            "the early-rejection stage re-integrates a trained or released flow's checkpoint, "
            "not a pipeline yet",
        ),
    ):
        if on:
            _fail(key, f"{why}; set it false")


def _prompt_count(prompts: dict[str, Any]) -> int:
    """The prompts of ``prompts.file`` (read strictly: a bad file is named by its line)."""
    from enfopath.study.prompts import PromptFileError, read_prompts

    if prompts["file"] is None:
        _fail("prompts.file", "a text-to-image study needs its prompt file")
    try:
        return len(read_prompts(prompts["file"]))
    except PromptFileError as err:
        raise ConfigError(f"invalid config key 'prompts.file': {err}") from None


def check_plugin(plugin: dict[str, Any]) -> None:
    """The user's model, without importing it: its modules are not the standard library
    (:func:`enfopath.user_code.standard_library_refusal`) and can be found (on PYTHONPATH, or
    installed), its checkpoint is one file, and labels go with the class-conditional convention.
    Whether the factory exists and the network answers as the config says is checked by the job
    that builds the study's checkpoint, before any sampling job."""
    for name in ("factory", "decoder"):
        if plugin[name] is None:
            continue
        refused = standard_library_refusal(plugin[name])
        if refused is not None:
            _fail(f"flow.plugin.{name}", refused)
        module = plugin[name].split(":")[0]
        try:
            found = importlib.util.find_spec(module) is not None
            why = ""
        except (ImportError, ValueError) as err:  # a parent package that cannot be imported
            found, why = False, f" ({err})"
        if not found:
            _fail(
                f"flow.plugin.{name}",
                f"no module named {module!r}{why}; put the folder that holds it on PYTHONPATH "
                "(e.g. PYTHONPATH=$PWD snakemake ...), or install it",
            )
    if plugin["checkpoint"] is not None:
        _check_asset(plugin["checkpoint"], "flow.plugin.checkpoint")
    conditional = plugin["convention"] == "x_t_y"
    if conditional and plugin["num_classes"] is None:
        _fail(
            "flow.plugin.num_classes",
            "a class-conditional model (convention x_t_y) needs its number of classes",
        )
    if not conditional and plugin["num_classes"] is not None:
        _fail("flow.plugin.num_classes", "only a class-conditional model (x_t_y) takes labels")


def is_conditional(config: dict[str, Any]) -> bool:
    """Whether the flow is class-conditional (SiT, or the user's x_t_y model): its samples get
    labels and it is guided by the ``guidance`` section."""
    plugin = config["flow"]["plugin"]
    return is_latent(config) or (plugin is not None and plugin["convention"] == "x_t_y")


PLANE_DATASETS = ("two_moons",)
"""Data sets in the plane (state shape (2,)): their study draws trajectories and fields."""


def is_plane(config: dict[str, Any]) -> bool:
    """Whether the study lives in the plane (a 2-D data set): it draws trajectories and fields
    instead of sample grids."""
    return config["data"]["dataset"] in PLANE_DATASETS


def schedules_fidelity(config: dict[str, Any]) -> bool:
    """Whether the schedules stage measures its samples' fidelity in every density space,
    against the training set: where the study has one (else its table has no fidelity
    columns)."""
    return config["density"]["reference"] == "data"


def calibrates_grid(config: dict[str, Any]) -> bool:
    """Whether a validated config's study calibrates an energy grid (rule calibrate_grid): it
    samples on one (sampling.grid energy), or compares grids (schedules.enabled)."""
    return config["sampling"]["grid"] == "energy" or config["schedules"]["enabled"]


def is_text_to_image(config: dict[str, Any]) -> bool:
    """Whether the flow is a diffusers text-to-image pipeline sampling a prompt set."""
    return config["flow"]["diffusers"] is not None


def is_latent(config: dict[str, Any]) -> bool:
    """Whether the flow runs in the SD-VAE latent (a SiT model)."""
    pretrained = config["flow"]["pretrained"]
    return pretrained is not None and pretrained["model"] == "sit"


def optional_stages(config: dict[str, Any]) -> dict[str, bool]:
    """The optional analysis stages of a validated config (a table ``statistics/<stage>.csv``
    each, and the figures of that stage) and whether each runs."""
    return {
        "partial_correlations": bool(config["statistics"]["partial_controls"]),
        "early_prediction": config["statistics"]["early_prediction"],
        "memorization": config["statistics"]["memorization"],
        "prdc": config["statistics"]["prdc"],
        "fidelity": config["statistics"]["fidelity"],
        "robustness": config["robustness"]["enabled"],
        "schedules": config["schedules"]["enabled"],
        "early_rejection": config["early_rejection"]["enabled"],
        "replicates": bool(config["replicates"]["flow_seeds"]),
        "ladder": bool(config["replicates"]["flow_steps"] or config["flow"]["checkpoints"]),
        "comparison": bool(config["compare"]["baseline"]),
        "prompt_effects": is_text_to_image(config),
    }


def ladder_steps(config: dict[str, Any]) -> tuple[list[int], int]:
    """The checkpoint ladder of a validated config: the steps of its rungs below the top, and
    the top rung's step (the study's flow): replicates.flow_steps and flow.steps for a flow
    trained here, the steps of flow.checkpoints and flow.checkpoint_step for one trained
    elsewhere; ([], top) without a ladder."""
    flow = config["flow"]
    if flow["checkpoints"]:
        return [r["step"] for r in flow["checkpoints"]], flow["checkpoint_step"]
    return list(config["replicates"]["flow_steps"]), flow["steps"]


def trains_flow(config: dict[str, Any]) -> bool:
    """Whether a validated config's study trains its own flow (rule train_flow): not a
    pretrained, plug-in, empirical or text-to-image flow."""
    f = config["flow"]
    return not (f["pretrained"] or f["plugin"] or f["model"] == "empirical" or f["diffusers"])


def figure_stages(config: dict[str, Any]) -> dict[str, bool]:
    """What decides whether a figure is drawn: the :func:`optional_stages`, and
    ``flow_training``, a study that trains its own flow (and monitors its KPE)."""
    return {**optional_stages(config), "flow_training": trains_flow(config)}


def needed_models(config: dict[str, Any]) -> set[str]:
    """The auxiliary models a validated config needs: classifier, clip, vae, inception."""
    spaces = set(config["density"]["spaces"])
    needs = {"clip"} if "clip" in spaces or config["semantics"]["method"] == "clip" else set()
    if "classifier" in spaces or config["semantics"]["method"] == "classifier":
        needs.add("classifier")
    if is_latent(config):
        needs.add("vae")
    if "inception" in spaces:
        needs.add("inception")
    return needs


def read_config(path: str | Path) -> dict[str, Any]:
    """Read one YAML config file (unvalidated); errors name the file and, for YAML syntax,
    the line and column."""
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read config ({err.strerror})") from err
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(f"{where}: YAML syntax error: {problem}") from err
    if raw is None:
        raise ConfigError(f"{path}: the config file is empty")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a config must be a mapping of keys, not a {type(raw).__name__}")
    return raw


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``over`` recursively, as Snakemake merges config files."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_config(*paths: str | Path) -> dict[str, Any]:
    """Read YAML config files, merge them in order (later files win) and validate the result."""
    merged: dict[str, Any] = {}
    for path in paths:
        merged = merge(merged, read_config(path))
    return validate_config(merged)


def n_shards(config: dict[str, Any]) -> int:
    """Number of trajectory shards of a validated config."""
    return config["sampling"]["n_samples"] // config["sampling"]["shard_size"]


def other_study_hint(
    targets: Iterable[str], experiment: str, study_files: Iterable[str | Path]
) -> str | None:
    """Why a target in another study's folder cannot be built by this run, and how to build it
    (None when every target is this study's): ``results/<name>/...`` is made only by a run
    whose config has ``experiment: <name>``, so the command needs that study's file; the
    ``study_files`` (``configs/*.yaml``) that set ``experiment: <name>`` are named. Snakemake's
    own message for it is "No rule to produce", which names neither."""
    for target in targets:
        parts = Path(target).parts
        if len(parts) < 3 or parts[0] != "results" or parts[1] == experiment:
            continue
        name = parts[1]
        files = []
        for path in study_files:
            study = read_config_quietly(path)
            if isinstance(study, dict) and study.get("experiment") == name:
                files.append(str(path))
        study_file = files[0] if files else f"<the study file with experiment: {name}>"
        also = f" (study files of {name!r}: {', '.join(files)})" if len(files) > 1 else ""
        return (
            f"{target} is a file of the study {name!r} (results/{name}/), but this run's config "
            f"is the study {experiment!r}: only a run of {name!r} makes its files. Name its "
            f"study file after the target: snakemake {target} --cores all --configfile "
            f"{study_file}{also}"
        )
    return None


def read_config_quietly(path: str | Path) -> Any:
    """A study file's YAML, or None where it cannot be read (for hints, never for a run)."""
    try:
        return yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError):
        return None


def main(argv: list[str] | None = None) -> int:
    """``python -m enfopath.study.config FILE ...``: check config files as ``snakemake --configfile
    FILE ...`` would read them (after the workflow's ``config.yaml`` when it is here)."""
    files = list(sys.argv[1:] if argv is None else argv)
    if not files:
        print("usage: python -m enfopath.study.config FILE [FILE ...]", file=sys.stderr)
        return 2
    base = [Path("config.yaml")] if Path("config.yaml").is_file() else []
    if base and any(Path(f).resolve() == base[0].resolve() for f in files):
        base = []
    try:
        config = load_config(*base, *files)
    except ConfigError as err:
        print(f"config error: {err}", file=sys.stderr)
        return 1
    print(f"{' + '.join(map(str, [*base, *files]))}: valid (experiment {config['experiment']})")
    if base and not any("experiment" in (read_config(f) or {}) for f in files):
        print(
            f"warning: {', '.join(map(str, files))} sets no `experiment:`, so this study writes "
            f"into results/{config['experiment']}/, the folder of {base[0]}'s study, and "
            "replaces its results; give the study its own `experiment:` unless you mean to "
            "change that one",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
