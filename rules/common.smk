"""Helpers shared by the rules: the validated config, output paths and input functions."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(workflow.basedir)))

from enfopath.study.config import (
    ConfigError,
    calibrates_grid,
    figure_stages,
    is_conditional,
    is_latent,
    is_plane,
    is_text_to_image,
    ladder_steps,
    n_shards,
    needed_models,
    optional_stages,
    other_study_hint,
    schedules_fidelity,
    validate_config,
)
from enfopath.study.jobs import asset_key, job_config, space_models
from enfopath.study.figure_names import FIGURE, FIGURE_NAMES, study_figures

try:
    validate_config(config)
except ConfigError as err:
    files = ", ".join(dict.fromkeys(map(str, workflow.configfiles))) or "--config only"
    raise WorkflowError(f"Config error (config files: {files}): {err}") from None


def command_line_targets():
    """The targets of the ``snakemake`` command line that started this run, read with
    Snakemake's own parser ([] for a run started otherwise, or a line it cannot read).
    """
    if Path(sys.argv[0]).name not in ("snakemake", "__main__.py"):
        return []
    try:
        from snakemake.cli import get_argument_parser

        args, _ = get_argument_parser().parse_known_args(sys.argv[1:])
    except (Exception, SystemExit):
        return []
    return list(args.targets or [])


_OTHER_STUDY = other_study_hint(
    command_line_targets(),
    config["experiment"],
    [
        str(p.relative_to(Path.cwd())) if p.is_relative_to(Path.cwd()) else str(p)
        for p in sorted(Path(workflow.basedir, "configs").glob("*.yaml"))
    ],
)
if (
    _OTHER_STUDY
):  # Snakemake's own message would be "No rule to produce", naming neither
    raise WorkflowError(_OTHER_STUDY)

OUT = f"results/{config['experiment']}"
SHARDS = list(range(n_shards(config)))
SPACES = config["density"]["spaces"]
PRETRAINED = config["flow"]["pretrained"]
PLUGIN = config["flow"]["plugin"]
"""The user's own model (flow.plugin), None otherwise."""
EMPIRICAL = config["flow"]["model"] == "empirical"
"""The flow is the training set's own closed-form flow: nothing is trained."""
NEEDS = needed_models(config)
LATENT = is_latent(config)
"""The flow runs in the SD-VAE latent (SiT): generation and the summary read the vae keys."""
PLANE = is_plane(config)
"""A 2-D study: trajectories and fields in the plane instead of sample grids."""
CONDITIONAL = is_conditional(config)
"""The flow is class-conditional: generation reads the guidance keys."""
T2I = is_text_to_image(config)
"""A diffusers text-to-image pipeline sampling a prompt set (flow.diffusers, prompts)."""
PROMPT_FILE = config["prompts"]["file"]
"""The prompt file of a text-to-image study (an input file of its jobs), None otherwise."""
ENERGY_GRID = config["sampling"]["grid"] == "energy"
"""The study samples on its energy-informed grid: its sampling jobs read the calibration."""
CALIBRATES = calibrates_grid(config)
"""The study calibrates an energy grid (rule calibrate_grid)."""
SELF_DENSITY = config["density"]["reference"] == "samples"
"""Density is measured among the generated samples themselves, not against a reference set."""
FLOW_SEEDS = config["replicates"]["flow_seeds"]
"""The training seeds of the replicate flows ([]: no replication)."""
FLOW_STEPS = config["replicates"]["flow_steps"]
"""The training steps of a checkpoint ladder's rungs below the last ([]: no ladder)."""
LADDER_SEEDS = [config["seed"], *FLOW_SEEDS]
"""The training runs a ladder climbs: the study's, then each replicate seed's."""
RUNG_STEPS, TOP_STEP = ladder_steps(config)
"""The steps of a checkpoint ladder's rungs below the top, and the top rung's (the study's
flow): replicates.flow_steps and flow.steps, or flow.checkpoints and flow.checkpoint_step."""
RUNGS_ELSEWHERE = bool(config["flow"]["checkpoints"])
"""The ladder's checkpoints were trained elsewhere (flow.checkpoints): fetched and imported."""
ASSETS = {
    name: section
    for name, section in (
        ("data", config["data"].get("source")),
        ("flow", (PRETRAINED or PLUGIN or {}).get("checkpoint")),
        ("inception", config["inception"]["weights"] if "inception" in NEEDS else None),
    )
    if section
}
"""Files fetched by URL or found by local path, by name (downloads/{name}.json manifests)."""
HUB_MODELS = sorted(NEEDS & {"clip", "vae"})
"""Models resolved from the Hugging Face hub or a local file / directory."""


wildcard_constraints:
    shard=r"\d+",
    space="|".join(SPACES),
    name="|".join(FIGURE_NAMES),
    asset=r"data|flow|flow_step_\d+|inception",
    hub="clip|vae",
    replicate=r"\d+",
    step=r"\d+",


def job_params(rule):
    """A rule's ``params: config=``: the slice of the config its job reads, as declared once in
    :data:`enfopath.study.jobs.JOB_KEYS` (with the job's wildcards), so that editing any of
    its keys reruns its jobs. A job's script reads only this slice, never the whole config.
    """
    return lambda wildcards: job_config(rule, config, dict(wildcards))


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
    "inception": "downloads/inception.json",
}


def with_models(models, **inputs):
    """``inputs`` plus the files of the auxiliary ``models`` (classifier, clip, vae,
    inception)."""
    for model in sorted(set(models)):
        inputs[model] = out(MODEL_FILES[model])
    return inputs


def gpu_for(models):
    """The gpu resource for jobs running ``models``, 1 for CLIP, the VAE or Inception, else 0."""
    return int(bool(set(models) & {"clip", "vae", "inception"}))


def semantic_models():
    """The model that scores semantics (classifier or clip)."""
    return {config["semantics"]["method"]}


def baseline_inputs(wildcards):
    """The baseline study's merged table and summary (compare.baseline), and the control's
    (compare.control): files of other experiments, which this DAG does not build; missing,
    they stop the run with the command."""
    inputs = {}
    for role in ("baseline", "control"):
        name = config["compare"][role]
        if name is None:
            continue
        base = f"results/{name}"
        own = {
            role: f"{base}/samples.parquet",
            f"{role}_summary": f"{base}/statistics/summary.json",
        }
        missing = [p for p in own.values() if not Path(p).exists()]
        if missing:
            raise WorkflowError(
                f"compare.{role}: {', '.join(missing)} missing: run the {role} study "
                f"{name!r} first (snakemake --cores all with its config)"
            )
        inputs |= own
    return inputs


def data_inputs(wildcards):
    """The downloaded tarball's manifest for a dataset fetched by URL or path, or the prompt
    file of a text-to-image study."""
    if T2I:
        return {"prompts": PROMPT_FILE}
    return {"source": out("downloads/data.json")} if "data" in ASSETS else {}


def flow_inputs(**inputs):
    """``inputs`` plus the study's flow as a job reads it: a text-to-image study's pipeline,
    prompt embeddings and prompt file (never its text encoders), else its checkpoint."""
    if T2I:
        return {
            "pipeline": out("models/pipeline.json"),
            "embeddings": out("prompts/embeddings.safetensors"),
            "prompts": PROMPT_FILE,
            **inputs,
        }
    return {"checkpoint": out("models/flow.pt"), **inputs}


def generation_inputs(wildcards):
    """What sampling the flow reads: its checkpoint (and a latent flow's VAE), or a
    text-to-image study's pipeline and prompt embeddings."""
    return flow_inputs() if T2I else sampling_inputs(**flow_inputs())


def calibration_inputs(wildcards):
    """What the grid calibration reads: the study's flow (no energy grid: it makes one)."""
    return flow_inputs()


def sampling_inputs(decoded=True, **inputs):
    """``inputs`` plus what integrating the study's flow on its grid reads: a latent flow's
    VAE where the job decodes its endpoints (``decoded``), and the calibration of an energy
    grid (sampling.grid energy)."""
    if ENERGY_GRID:
        inputs["calibration"] = out("grids/calibration.npz")
    return with_models({"vae"} & NEEDS if decoded else set(), **inputs)


def schedules_inputs(wildcards):
    """What the schedules stage reads: the flow, its calibration and, where the study has a
    training set, its features, index and radii in every density space with the models that
    embed into them (its samples' fidelity)."""
    inputs = flow_inputs(calibration=out("grids/calibration.npz"))
    if not schedules_fidelity(config):
        return with_models({"vae"} & NEEDS, **inputs)
    inputs |= {
        "references": per_space("features/train_{space}.npz"),
        "indexes": per_space("index/{space}.faiss"),
        "radii": per_space("index/{space}_radii.npz"),
    }
    return with_models(({"vae"} & NEEDS) | space_models(SPACES), **inputs)


def summary_inputs(wildcards):
    """The merged table, the first trajectory shard and the dataset (what the samples are),
    plus what the summary records about the models used (summary rule)."""
    inputs = {
        "table": out("samples.parquet"),
        "first_shard": out("trajectories/shard_0.npz"),
        "dataset": out("data/dataset.npz"),
    }
    if "classifier" in NEEDS:
        inputs["classifier_metrics"] = out("models/classifier_metrics.json")
    if T2I:
        inputs["pipeline"] = out("models/pipeline.json")
    return with_models(HUB_MODELS, **inputs)


def figure_inputs(wildcards):
    """The merged table, plus what the figure's spec (enfopath.study.figure_names) reads: the
    trajectory shards and the data set for the figures that show samples (and a 2-D study's
    paths and field), and its statistics tables and model records, each under its context
    field's name."""
    spec = FIGURE[wildcards.name]
    inputs = {"table": out("samples.parquet")}
    if spec.samples is not None:
        inputs["shards"] = per_shard("trajectories/shard_{shard}.npz")
        inputs["dataset"] = out("data/dataset.npz")
    if spec.samples == "plane":
        inputs["paths"] = out("plane/paths.npz")
        inputs["field"] = out("plane/field.npz")
    for field, table in spec.tables:
        inputs[field] = out(f"statistics/{table}.csv")
    for field, file in spec.models:
        inputs[field] = out(f"models/{file}")
    return inputs


STAGES = optional_stages(config)
"""The optional analysis stages (a table statistics/<stage>.csv each) and whether they run."""
STUDY_FIGURES = study_figures(figure_stages(config), PLANE)
"""The figures of this study."""
FIGURE_FORMATS = config["figures"]["format"]
"""The file formats of every figure (png among them: the report shows it)."""


def study_targets(wildcards):
    """The study's final tables and figures (an input function: the rules it names are defined
    after the default target)."""
    return [
        *rules.merge_samples.output,
        *rules.summary.output,
        *rules.statistics.output,
        *(out(f"statistics/{stage}.csv") for stage, on in STAGES.items() if on),
        *expand(out("figures/{name}.{fmt}"), name=STUDY_FIGURES, fmt=FIGURE_FORMATS),
        *rules.page_one.output,
        *rules.report_tables.output,
        *rules.explorer.output,
        *rules.figure_pages.output,
    ]


PAGE_ONE_TABLES = {
    "partial": "partial_correlations",
    "early": "early_prediction",
    "robustness": "robustness",
    "memorization": "memorization",
    "prdc": "prdc",
    "fidelity": "fidelity",
    "schedules": "schedules",
    "early_rejection": "early_rejection",
}
"""The optional stages' tables the report's first page reads (input name: stage), where the
stage runs."""
METHOD = str(Path(workflow.basedir) / "report" / "workflow.rst")
"""The method text of the report, below the results on its first page."""


def page_one_inputs(wildcards):
    """The tables of the report's first page: the summary, the correlations and each optional
    stage's of :data:`PAGE_ONE_TABLES` that runs, and the method text."""
    inputs = {
        "summary": out("statistics/summary.csv"),
        "correlations": out("statistics/correlations.csv"),
        "method": METHOD,
    }
    for name, stage in PAGE_ONE_TABLES.items():
        if STAGES[stage]:
            inputs[name] = out(f"statistics/{stage}.csv")
    return inputs


def figure_page_inputs(wildcards):
    """What the figures' pages read: each figure's PNG and the first page's tables."""
    inputs = page_one_inputs(wildcards)
    inputs.pop("method")
    return {**inputs, "figures": expand(out("figures/{name}.png"), name=STUDY_FIGURES)}


def figure_captions(wildcards):
    """Each figure's caption rendered for this study (its page's text, in STUDY_FIGURES' order):
    a params entry, so a config edit that changes a caption rewrites the pages."""
    from enfopath.study.figure_names import rendered_caption

    return [rendered_caption(name, config) for name in STUDY_FIGURES]


def study_tables():
    """The study's tables, name → ``statistics/<name>.csv``: the summary's, the statistics
    rule's and those of each optional stage that runs, read from the rules' outputs (so call it
    after they are defined: rules/report.smk)."""
    stage_rules = [getattr(rules, stage) for stage, on in STAGES.items() if on]
    tables = {}
    for writer in (rules.summary, rules.statistics, *stage_rules):
        for path in writer.output:
            if path.startswith(out("statistics/")) and path.endswith(".csv"):
                tables[Path(path).stem] = path
    return tables


def explorer_inputs(wildcards):
    """The per-sample explorer's inputs: the merged table, the data set (class names) and, for
    a study of images, the trajectory shards (the thumbnails)."""
    inputs = {"table": out("samples.parquet"), "dataset": out("data/dataset.npz")}
    if not PLANE:
        inputs["shards"] = per_shard("trajectories/shard_{shard}.npz")
    return inputs


def report_description():
    """The report's first page (the Snakefile's ``report:``): the study's results above the
    method (``report/page_one.rst``, rule ``page_one``) once the study has written it, else
    the method alone (a report built before the study finished)."""
    page = Path(out("report/page_one.rst"))
    return str(page.resolve()) if page.is_file() else "report/workflow.rst"


def all_outputs(wildcards):
    """Everything the default target builds: the final tables and figures, and the inventory
    of the finished study that lists and verifies every file made for them."""
    return [*study_targets(wildcards), out("inventory.json")]


_REPORT_VERIFIED = []


def verified_labels(labels):
    """Report labels that first verify the finished study (once per report): every file its
    inventory lists, with its record and lineage (:func:`enfopath.inventory.verify_study`),
    and the reported files themselves. A table or figure whose bytes, record or lineage do not
    check out stops the report instead of entering it. Snakemake evaluates labels only when
    it builds a report."""

    def check(wildcards, output):
        from enfopath.inventory import verify_study
        from enfopath.io import CorruptFileError, verify

        if not _REPORT_VERIFIED:
            errors, _, _ = verify_study(OUT)
            if errors:
                listed = "; ".join(errors[:3]) + (
                    f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
                )
                raise WorkflowError(
                    f"the report is not built: {OUT} does not verify: {listed} "
                    f"(python -m enfopath.io {OUT} lists every problem)"
                )
            _REPORT_VERIFIED.append(OUT)
        try:
            for path in output:
                verify(path)
        except CorruptFileError as err:
            raise WorkflowError(f"the report is not built: {err}") from None
        return labels(wildcards) if callable(labels) else labels

    return check


def rung_checkpoint(wildcards):
    """The EMA weights of a ladder's rung, saved by the replicate_flow job of its seed (the
    study's own seed too: the ladder's run, the same bits as the study's training), or a
    checkpoint of flow.checkpoints imported by import_rung; at the top step, the flow itself, the study's models/flow.pt for the
    study's seed (its rung, asked for by name, is the study's own samples, which the ladder
    takes from samples.parquet)."""
    seed, step = int(wildcards.replicate), int(wildcards.step)
    if RUNGS_ELSEWHERE:  # imported by import_rung; the top rung is the study's flow
        return out(
            "models/flow.pt" if step == TOP_STEP else f"models/flow_step_{step}.pt"
        )
    if step != TOP_STEP:
        return out(f"replicates/seed_{seed}/flow_step_{step}.pt")
    return out(
        "models/flow.pt"
        if seed == config["seed"]
        else f"replicates/seed_{seed}/flow.pt"
    )
