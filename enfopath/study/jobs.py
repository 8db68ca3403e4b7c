"""Each job's config keys, declared once: the rules' ``params:`` and the scripts both read them.

A job (a rule's script) sees only the slice of the validated config that its entry in
:data:`JOB_KEYS` declares: the rule passes :func:`job_config` as its ``params: config=`` (so
editing a declared key reruns exactly the jobs that read it, and a declared key the config
lacks fails when the DAG is built, naming the rule and the key), and the script reads the slice
through :class:`JobConfig`, which records every key read. A read of a key the entry does not
declare stops the job with :class:`UndeclaredKeyError` naming the rule, the key and this module;
the keys a job declared but never read are written to its log at exit (``config keys declared
but not read: ...``), and the test suite requires that line to be absent from every job of the
tiny studies, so a declaration cannot drift from the code in either direction.

A job's keys may depend on the study (a class-conditional flow's generation reads the guidance
keys, a latent flow's the VAE's scale), on the rule's wildcards (a reference index reads the
batch size of its space's model) and on the study's options (the KTS keys only when the grid is
``kts``). Each entry is a function of the validated config and the wildcards returning a
:class:`Keys`: dotted keys, a key naming a whole section (``"sampling"``), less the dotted keys
of ``without``.

This module imports only the light :mod:`enfopath.study.config` helpers, so ``snakemake -n``
stays fast.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from enfopath.io import ExplainedError

MODULE = "enfopath/study/jobs.py"


class UndeclaredKeyError(ExplainedError, KeyError):
    """A job read a config key that its entry in :data:`JOB_KEYS` does not declare."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


@dataclass(frozen=True)
class Keys:
    """The config keys one job reads: dotted ``keys`` (a key may name a whole section) less the
    dotted keys of ``without``."""

    keys: tuple[str, ...]
    without: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        for key in (*self.keys, *self.without):
            if not key or any(not part for part in key.split(".")):
                raise ValueError(f"not a dotted config key: {key!r}")
        if len(set(self.keys)) != len(self.keys):
            raise ValueError(f"a key declared twice in {self.keys}")


def config_slice(config: dict[str, Any], keys: Keys, rule: str = "?") -> dict[str, Any]:
    """The parts of ``config`` at ``keys`` less those at ``keys.without`` (where present), as
    one nested JSON-plain dict with sorted keys.

    Raises ``KeyError`` naming the rule, the key and this module when the config lacks a
    declared key (the schema gives every key a default, so this is a declaration's typo)."""
    part: dict[str, Any] = {}
    for key in keys.keys:
        *parents, leaf = key.split(".")
        src, dst = config, part
        try:
            for name in parents:
                src, dst = src[name], dst.setdefault(name, {})
            dst[leaf] = copy.deepcopy(src[leaf])
        except (KeyError, TypeError):
            raise KeyError(
                f"rule {rule} declares the config key {key!r} ({MODULE}), "
                "which the validated config does not have"
            ) from None
    for key in keys.without:  # where the config has it (not under a null section)
        *parents, leaf = key.split(".")
        dst = part
        for name in parents:
            dst = dst.get(name) if isinstance(dst, dict) else None
        if isinstance(dst, dict):
            dst.pop(leaf, None)
    return json.loads(json.dumps(part, sort_keys=True))


def leaf_keys(part: Any, prefix: str = "") -> Iterator[str]:
    """The dotted keys of the leaves of a nested dict (a list is one leaf, as is ``{}``)."""
    if isinstance(part, dict) and part:
        for name, value in part.items():
            yield from leaf_keys(value, f"{prefix}{name}.")
    elif prefix:
        yield prefix[:-1]


class JobConfig(dict):  # type: ignore[type-arg]
    """A job's config slice (a plain dict to its readers) that records the keys read.

    Reading a leaf (``cfg["sampling"]["solver"]``, ``.get``, ``.items()``, ``.values()``,
    ``json.dumps``, ``copy.deepcopy``, pickling) records its dotted key in ``reads``, shared by
    the sections below; a section is a :class:`JobConfig` itself, a list is returned as a copy
    (and counts as one leaf). ``in`` tests presence and reads nothing.
    """

    def __init__(
        self,
        data: dict[str, Any],
        rule: str,
        prefix: str = "",
        reads: set[str] | None = None,
    ) -> None:
        super().__init__(data)
        self.rule, self.prefix = rule, prefix
        self.reads: set[str] = set() if reads is None else reads
        self._sections: dict[str, JobConfig] = {}

    def __getitem__(self, key: str) -> Any:
        try:
            value = dict.__getitem__(self, key)
        except KeyError:
            raise UndeclaredKeyError(
                f"rule {self.rule} read the config key {self.prefix + str(key)!r}, which its "
                f"entry in {MODULE} does not declare: add it there (its jobs then rerun when it "
                "changes)"
            ) from None
        path = f"{self.prefix}{key}"
        if isinstance(value, dict) and value:
            if key not in self._sections:
                self._sections[key] = JobConfig(value, self.rule, f"{path}.", self.reads)
            return self._sections[key]
        self.reads.add(path)
        return copy.deepcopy(value) if isinstance(value, list | dict) else value

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if dict.__contains__(self, key) else default

    def __iter__(self) -> Iterator[str]:  # overridden, so dict(cfg) reads through __getitem__
        return dict.__iter__(self)

    def items(self) -> list[tuple[str, Any]]:  # type: ignore[override]
        return [(key, self[key]) for key in dict.keys(self)]

    def values(self) -> list[Any]:  # type: ignore[override]
        return [self[key] for key in dict.keys(self)]

    def plain(self) -> dict[str, Any]:
        """A plain deep copy, every leaf read."""
        return {
            key: value.plain() if isinstance(value, JobConfig) else value
            for key, value in self.items()
        }

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        return self.plain()

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        return (dict, (self.plain(),))

    def unread(self) -> list[str]:
        """The declared leaf keys not read (yet), sorted."""
        return sorted(
            key for key in leaf_keys(dict(dict.items(self)), self.prefix) if key not in self.reads
        )


KeysOf = Callable[..., Keys]
"""A job's entry: a function of the validated config and the rule's wildcards."""


def declared(rule: str, config: dict[str, Any], wildcards: dict[str, str] | None = None) -> Keys:
    """The config keys the job of ``rule`` (with ``wildcards``) declares in :data:`JOB_KEYS`."""
    if rule not in JOB_KEYS:
        raise KeyError(f"rule {rule} has no entry in {MODULE}'s JOB_KEYS")
    return JOB_KEYS[rule](config, **(wildcards or {}))


def job_config(
    rule: str, config: dict[str, Any], wildcards: dict[str, str] | None = None
) -> dict[str, Any]:
    """The config slice the job of ``rule`` reads: its ``params: config=``."""
    return config_slice(config, declared(rule, config, wildcards), rule)


def _names(*groups: Iterable[str]) -> tuple[str, ...]:
    """The keys of ``groups`` in order, each once."""
    return tuple(dict.fromkeys(key for group in groups for key in group))


JOB_KEYS: dict[str, KeysOf] = {}
"""Every job's config keys, by rule (filled below)."""


def _job(rule: str) -> Callable[[KeysOf], KeysOf]:
    """Register the decorated function as the entry of ``rule`` (names its keys' role)."""

    def register(fn: KeysOf) -> KeysOf:
        JOB_KEYS[rule] = fn
        return fn

    return register


# --- what several jobs read ------------------------------------------------------------------


def model_keys(models: Iterable[str]) -> tuple[str, ...]:
    """The config keys that loading the auxiliary ``models`` reads (CLIP, VAE:
    :func:`enfopath.measures.features.load_models`)."""
    models = set(models)
    return _names(
        ("clip.interpolation", "clip.batch_size", "sampling.precision") if "clip" in models else (),
        ("vae.scale", "vae.batch_size") if "vae" in models else (),
        ("inception.batch_size",) if "inception" in models else (),
    )


def space_models(spaces: Iterable[str]) -> set[str]:
    """The auxiliary models that embed into ``spaces`` (pixels needs none)."""
    from enfopath.columns import SPACE_MODEL

    return {SPACE_MODEL[s] for s in spaces if SPACE_MODEL.get(s)}


def generation_keys(config: dict[str, Any]) -> tuple[str, ...]:
    """What generating samples reads: the seed, the sampling options, a class-conditional
    flow's guidance, a latent flow's VAE scale, a text-to-image flow's pipeline settings, and
    how an energy grid is built from its calibration."""
    from enfopath.study.config import is_conditional, is_latent, is_text_to_image

    return _names(
        ("seed", "sampling"),
        ("guidance",) if is_conditional(config) else (),
        ("vae.scale",) if is_latent(config) else (),
        T2I_SAMPLING_KEYS if is_text_to_image(config) else (),
        ENERGY_GRID_KEYS if config["sampling"]["grid"] == "energy" else (),
    )


ENERGY_GRID_KEYS = (
    "grid_calibration.profile",
    "grid_calibration.gamma",
    "grid_calibration.smoothing",
    "grid_calibration.floor",
)
"""How a job builds the energy grid's nodes from the calibration
(:meth:`enfopath.study.energy_grid.EnergyGrid.from_config`)."""


@_job("calibrate_grid")
def _calibrate_grid(config: dict[str, Any]) -> Keys:
    from enfopath.study.config import is_conditional, is_text_to_image

    return Keys(
        _names(
            ("seed", "sampling.batch_size", "sampling.t_end", "sampling.kts"),
            ("sampling.precision", "grid_calibration.n_samples", "grid_calibration.nodes"),
            ("guidance",) if is_conditional(config) else (),
            T2I_SAMPLING_KEYS if is_text_to_image(config) else (),
        )
    )


@_job("schedules")
def _schedules(config: dict[str, Any]) -> Keys:
    from enfopath.study.config import schedules_fidelity

    return Keys(
        _names(
            generation_keys(config),
            ENERGY_GRID_KEYS,
            ("schedules.n_samples", "schedules.nfe", "schedules.solvers", "schedules.grids"),
            ("robustness.reference", *BOOTSTRAP),
            ("density.spaces", "density.k") if schedules_fidelity(config) else (),
            model_keys(space_models(config["density"]["spaces"]))
            if schedules_fidelity(config)
            else (),
        ),
        without=("sampling.n_samples", "sampling.shard_size"),
    )


T2I_ENCODING_KEYS = ("flow.diffusers.negative_prompt", "flow.diffusers.max_sequence_length")
"""What the prompt embeddings of a text-to-image study depend on besides the prompt file and
the pipeline (:func:`enfopath.study.embeddings.encoder_identity`)."""
T2I_SAMPLING_KEYS = (
    "flow.diffusers.resolution",
    "flow.diffusers.guidance",
    *T2I_ENCODING_KEYS,
    "prompts.samples_per_prompt",
)
"""What sampling a text-to-image flow reads beyond the sampling section: the image size, the
guidance, the embeddings' identity and the seeds per prompt."""


def solver_keys(config: dict[str, Any]) -> tuple[str, ...]:
    """The settings of the study's solver: dopri5's tolerances, a fixed grid's steps and grid."""
    if config["sampling"]["solver"] == "dopri5":
        return ("sampling.solver", "sampling.rtol", "sampling.atol")
    return ("sampling.solver", "sampling.steps", "sampling.grid")


def kpe_keys(config: dict[str, Any]) -> tuple[str, ...]:
    """What saying which energy the study's ``kpe`` is reads
    (:func:`enfopath.study.summary.kpe_definition`): the span, and the KTS parameters when
    trajectory shaping is on."""
    kts = config["sampling"]["kts"]
    shaped = ("sampling.kts.gain", "sampling.kts.switch_time", "sampling.kts.landing_sharpness")
    return (
        "sampling.t_end",
        "sampling.kts.alpha0",
        "sampling.kts.beta0",
        *(shaped if kts["alpha0"] or kts["beta0"] else ()),
    )


def semantics_keys(config: dict[str, Any]) -> tuple[str, ...]:
    """What scoring semantics reads (the method; CLIP's prompt template, unless the prompts are
    a text-to-image study's own, and what loading CLIP reads)."""
    from enfopath.study.config import is_text_to_image

    if config["semantics"]["method"] != "clip":
        return ("semantics.method",)
    template = () if is_text_to_image(config) else ("clip.template",)
    return _names(("semantics.method", *template), model_keys({"clip"}))


DENSITY_COLUMNS = ("density.spaces", "density.reference")
"""What naming a study's density columns reads (:func:`enfopath.columns.density_prefixes`)."""


TRAINED_ELSEWHERE = ("flow.pretrained", "flow.checkpoints", "flow.checkpoint_step")
"""The flow keys of a flow trained elsewhere (a released model and its checkpoint ladder)."""


def training_keys(config: dict[str, Any]) -> Keys:
    """What training a flow reads (the seed and the flow's section, less what describes a flow
    trained elsewhere)."""
    return Keys(("seed", "flow"), without=TRAINED_ELSEWHERE)


# --- the jobs, by stage ----------------------------------------------------------------------


@_job("fetch_asset")
def _fetch_asset(config: dict[str, Any], asset: str) -> Keys:
    return Keys((asset_key(config, asset),))


RUNG_ASSET = "flow_step_"
"""The fetched file ``flow_step_{step}``: the checkpoint of a ladder's rung (flow.checkpoints)."""


def asset_key(config: dict[str, Any], asset: str) -> str:
    """The config key of the fetched file ``asset`` (data, flow, inception, flow_step_{step}:
    the list flow.checkpoints, whose entry of that step :func:`asset_section` picks)."""
    if asset == "data":
        return "data.source"
    if asset == "inception":
        return "inception.weights"
    if asset.startswith(RUNG_ASSET):
        return "flow.checkpoints"
    return "flow.plugin.checkpoint" if config["flow"]["plugin"] else "flow.pretrained.checkpoint"


def asset_section(value: Any, asset: str) -> dict[str, Any]:
    """The file section of ``asset`` from the value at its :func:`asset_key`: that value
    itself, or the checkpoint of the flow.checkpoints entry at the rung's step."""
    if not asset.startswith(RUNG_ASSET):
        return value
    step = int(asset.removeprefix(RUNG_ASSET))
    entry = next((r for r in value if r["step"] == step), None)
    if entry is None:
        raise KeyError(f"flow.checkpoints has no checkpoint at step {step}")
    return entry["checkpoint"]


HUB_KEYS = {
    "clip": ("clip.model", "clip.pretrained", "clip.model_config"),
    "vae": ("vae.source",),
}
"""The config keys of each model resolved from the hub."""


@_job("fetch_hub")
def _fetch_hub(config: dict[str, Any], hub: str) -> Keys:
    return Keys(HUB_KEYS[hub])


DATASET_KEYS = {
    "cifar10": ("data.dataset",),
    "image_folder": (
        "seed",
        "data.dataset",
        "data.folder",
        "data.per_class",
        "data.image_size",
        "data.class_names",
    ),
}
"""What preparing each data set reads (the tarball of ``data.source`` is an input file); a
bundled data set reads the seed, its name and the test fraction."""


PROMPT_REFERENCE_KEYS = ("seed", "data.folder", "data.per_class", "data.image_size")
"""What a prompt set's optional reference folder reads (the prompt file is an input file)."""


@_job("prepare_data")
def _prepare_data(config: dict[str, Any]) -> Keys:
    dataset = config["data"]["dataset"]
    if dataset == "prompts":
        return Keys(
            ("data.dataset", *(PROMPT_REFERENCE_KEYS if "folder" in config["data"] else ()))
        )
    return Keys(DATASET_KEYS.get(dataset, ("seed", "data.dataset", "data.test_fraction")))


@_job("pipeline")
def _pipeline(config: dict[str, Any]) -> Keys:
    if config["flow"]["diffusers"]["tiny"] is not None:
        return Keys(("seed", "flow.diffusers.tiny"))
    return Keys(("flow.diffusers.source", "flow.diffusers.revision"))


@_job("encode_prompts")
def _encode_prompts(config: dict[str, Any]) -> Keys:
    return Keys((*T2I_ENCODING_KEYS, "prompts.encode_batch_size"))


@_job("self_density")
def _self_density(config: dict[str, Any]) -> Keys:
    return Keys(("density.spaces", "density.k", "sampling.shard_size"))


@_job("import_flow")
def _import_flow(config: dict[str, Any]) -> Keys:
    # the checkpoint file is an input (its fetch_asset manifest), not read from the config
    return Keys(("flow.pretrained",), without=("flow.pretrained.checkpoint",))


@_job("plugin_flow")
def _plugin_flow(config: dict[str, Any]) -> Keys:
    return Keys(("flow.plugin",), without=("flow.plugin.checkpoint",))


JOB_KEYS["import_rung"] = lambda config, step=None: JOB_KEYS[
    "plugin_flow" if config["flow"]["plugin"] else "import_flow"
](config)
JOB_KEYS["train_flow"] = training_keys
JOB_KEYS["replicate_flow"] = lambda config, replicate=None: Keys(
    (*training_keys(config).keys, "replicates.flow_steps"), without=TRAINED_ELSEWHERE
)


@_job("generate_shard")
def _generate_shard(config: dict[str, Any], shard: str | None = None) -> Keys:
    return Keys(generation_keys(config), without=("sampling.n_samples",))


@_job("plane")
def _plane(config: dict[str, Any]) -> Keys:
    from enfopath.study.config import is_conditional

    return Keys(
        _names(
            ("seed", "sampling.n_samples", "sampling.t_end", "sampling.kts"),
            ("sampling.precision", "figures.plane_paths"),
            ("guidance",) if is_conditional(config) else (),
        )
    )


@_job("semantics_shard")
def _semantics_shard(config: dict[str, Any], shard: str | None = None) -> Keys:
    clip = config["semantics"]["method"] == "clip"
    return Keys((*semantics_keys(config), *(("clip.model",) if clip else ())))  # logged


@_job("reference_index")
def _reference_index(config: dict[str, Any], space: str) -> Keys:
    return Keys(
        _names(("density.k", "density.kde_bandwidth_scale"), model_keys(space_models([space])))
    )


@_job("features_shard")
def _features_shard(config: dict[str, Any], shard: str | None = None) -> Keys:
    spaces = config["density"]["spaces"]
    return Keys(_names(("density.spaces",), model_keys(space_models(spaces))))


def flow_record_keys(config: dict[str, Any]) -> tuple[str, ...]:
    """What the summary records of the flow (:func:`enfopath.study.summary.models_used`): a
    released model's name, the user's factory, convention and time, and where the checkpoint
    came from (its url or path)."""
    keys: list[str] = []
    for section, own in (
        ("pretrained", ("model",)),
        ("plugin", ("factory", "convention", "time")),
    ):
        part = config["flow"][section]
        if part is None:
            keys.append(f"flow.{section}")
            continue
        keys += [f"flow.{section}.{name}" for name in own]
        checkpoint = part["checkpoint"]
        where = [k for k in ("url", "path") if checkpoint and checkpoint.get(k)][:1]
        keys += [f"flow.{section}.checkpoint.{k}" for k in where] or [f"flow.{section}.checkpoint"]
    if config["flow"]["diffusers"] is not None:
        keys += ["flow.diffusers", "prompts.file", "prompts.samples_per_prompt"]
    return tuple(keys)


@_job("summary")
def _summary(config: dict[str, Any]) -> Keys:
    from enfopath.study.config import is_conditional, is_latent, is_text_to_image, needed_models

    return Keys(
        _names(
            ("experiment", "seed", "data.dataset", "semantics.method"),
            (*DENSITY_COLUMNS, "density.k"),
            solver_keys(config),
            ("sampling.batch_size", "sampling.tau", "sampling.precision"),
            kpe_keys(config),
            ("statistics.bootstrap", "statistics.confidence", "statistics.group_quantile"),
            flow_record_keys(config),
            ("clip.model", "clip.pretrained", "clip.interpolation")
            if "clip" in needed_models(config)
            else (),
            ("clip.template",)  # a text-to-image study's prompts are written out in full
            if "clip" in needed_models(config) and not is_text_to_image(config)
            else (),
            ("guidance",) if is_conditional(config) else (),
            ("vae.source", "vae.scale") if is_latent(config) else (),
        )
    )


BOOTSTRAP = ("seed", "statistics.bootstrap", "statistics.confidence")
"""What a bootstrap interval reads: its seed, resamples and confidence level."""
REJECTION_KEYS = ("early_rejection.shares", "early_rejection.reject")
"""What both early-rejection jobs read of their section: the shares stopped and which end."""
FIXED_KEYS = {
    "train_classifier": ("seed", "classifier"),
    "density_shard": ("density.spaces", "density.k"),
    "merge_samples": ("sampling.n_samples",),
    "statistics": (*BOOTSTRAP, *DENSITY_COLUMNS, "statistics.group_quantile", "statistics.bins"),
    "partial_correlations": (*BOOTSTRAP, *DENSITY_COLUMNS, "statistics.partial_controls"),
    "early_prediction": (*BOOTSTRAP, *DENSITY_COLUMNS, "statistics.group_quantile"),
    "memorization": ("statistics.confidence", "statistics.bins"),
    "prdc": (*BOOTSTRAP, "density.spaces", "density.k", "statistics.group_quantile"),
    "fidelity": (
        "seed",
        "statistics.confidence",
        "density.spaces",
        "statistics.group_quantile",
        "fidelity",
    ),
    "comparison": (*BOOTSTRAP, *DENSITY_COLUMNS, "compare.baseline", "compare.control"),
    "robustness": (
        *BOOTSTRAP,
        "density.spaces",
        "statistics.group_quantile",
        "robustness.stable_overlap",
        "robustness.stable_kpe_error",
        "robustness.stable_delta_rho",
    ),
    "replicates": (*BOOTSTRAP, "density.spaces", "replicates.flow_seeds", "replicates.n_samples"),
    # its rungs' steps come as params (enfopath.study.config.ladder_steps), read when built
    "ladder": (
        *BOOTSTRAP,
        "density.spaces",
        "statistics.partial_controls",
        "replicates.flow_seeds",
        "replicates.n_samples",
    ),
    "prompt_effects": BOOTSTRAP,
    "early_rejection": (
        *BOOTSTRAP,
        *REJECTION_KEYS,
        "density.spaces",
        "density.k",
        "fidelity.bootstrap",
        "early_rejection.random_draws",
    ),
}
"""The jobs whose keys depend on nothing (of the study or the wildcards)."""
for _rule, _keys in FIXED_KEYS.items():
    JOB_KEYS[_rule] = lambda config, _k=Keys(_keys), **wildcards: _k


@_job("early_rejection_runs")
def _early_rejection_runs(config: dict[str, Any]) -> Keys:
    return Keys(
        _names(
            (k for k in generation_keys(config) if k != "vae.scale"),  # nothing is decoded
            ("early_rejection.n_samples", "early_rejection.check_times", *REJECTION_KEYS),
        ),
        without=("sampling.n_samples", "sampling.shard_size"),
    )


@_job("robustness_runs")
def _robustness_runs(config: dict[str, Any]) -> Keys:
    return Keys(
        _names(
            generation_keys(config),
            ("robustness.n_samples", "robustness.settings", "robustness.reference"),
        ),
        without=("sampling.n_samples", "sampling.shard_size"),
    )


@_job("robustness_scores")
def _robustness_scores(config: dict[str, Any]) -> Keys:
    spaces = config["density"]["spaces"]
    return Keys(
        _names(
            semantics_keys(config),
            ("density.spaces", "density.k"),
            model_keys(space_models(spaces)),
        )
    )


@_job("replicate_samples")
@_job("rung_samples")
def _replicate_samples(
    config: dict[str, Any], replicate: str | None = None, step: str | None = None
) -> Keys:
    spaces = config["density"]["spaces"]
    return Keys(
        _names(
            generation_keys(config),
            semantics_keys(config),
            ("density.spaces", "density.k", "replicates.n_samples"),
            model_keys(space_models(spaces)),
        ),
        without=("sampling.n_samples", "sampling.shard_size"),
    )


@_job("explorer")
def _explorer(config: dict[str, Any]) -> Keys:
    return Keys(
        _names(
            ("experiment", "seed", *DENSITY_COLUMNS, "density.k"),
            ("statistics.group_quantile", "figures.explorer_samples"),
        )
    )


@_job("figure")
def _figure(config: dict[str, Any], name: str) -> Keys:
    from enfopath.study.figure_names import FIGURE

    every = (*DENSITY_COLUMNS, "density.k", "statistics.group_quantile", "statistics.confidence")
    every += ("figures.format", "figures.dpi")
    return Keys(_names(every, kpe_keys(config), FIGURE[name].keys))
