"""Set-up shared by the workflow scripts: import path, logging into the rule's log, threads.

It imports no heavy module (torch, pandas, FAISS): each job pays only for what it uses.

Each script is a thin adapter: it reads the ``snakemake`` object, calls the ``enfopath`` package
and writes the declared outputs (atomically, through ``enfopath.io``).
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def setup(snakemake: Any, network: bool = False) -> logging.Logger:
    """Log to the rule's log file (and warnings to stderr), set torch threads, log failures,
    and start the job's lineage record (:func:`enfopath.io.begin_job`).

    Jobs work offline (the Hugging Face hub switched off) unless ``network`` is set, as it is
    for the download rules only; the peak GPU memory of a job that used CUDA is logged at exit.
    """
    log_file = snakemake.log[0]
    Path(log_file).parent.mkdir(parents=True, exist_ok=True)
    open(log_file, "w").close()  # a fresh log; both writers below append (O_APPEND)
    handler = logging.FileHandler(log_file, mode="a")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.WARNING)
    logging.basicConfig(level=logging.INFO, handlers=[handler, console], force=True)
    logging.captureWarnings(True)
    logger = logging.getLogger(f"enfopath.{snakemake.rule}")

    def excepthook(kind: type[BaseException], err: BaseException, tb: Any) -> None:
        from enfopath.io import ExplainedError

        _FAILED.append(err)
        trace = None if isinstance(err, ExplainedError) else (kind, err, tb)
        logger.critical("rule %s failed: %s", snakemake.rule, err, exc_info=trace)

    sys.excepthook = excepthook
    if not network:
        from enfopath.models.hub import go_offline

        go_offline()
    from enfopath.io import begin_job

    begin_job(snakemake.rule, list(snakemake.output))  # every read checked, every write recorded

    def peak_memory() -> None:
        torch = sys.modules.get("torch")  # only a job that used torch has anything to report
        if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
            peak = torch.cuda.max_memory_allocated() / 2**20
            logger.info("peak GPU memory %.1f MiB (%s)", peak, torch.cuda.get_device_name())

    atexit.register(peak_memory)
    limit_threads(max(1, int(snakemake.threads)))
    logger.info(
        "rule %s, %d thread(s), wildcards %s",
        snakemake.rule,
        snakemake.threads,
        dict(snakemake.wildcards),
    )
    return logger


def job_config(snakemake: Any) -> Any:
    """The job's config slice (``params.config``) as an :class:`enfopath.study.jobs.JobConfig`
    that records each key read: a key its entry in ``enfopath/study/jobs.py`` does not declare
    stops the job naming it, and the keys declared but never read are logged at a successful
    exit (``config keys declared but not read: ...``; the test suite requires none)."""
    from enfopath.study.jobs import JobConfig

    cfg = JobConfig(snakemake.params.config, snakemake.rule)
    logger = logging.getLogger(f"enfopath.{snakemake.rule}")

    def report_unread() -> None:
        if _FAILED:
            return
        unread = cfg.unread()
        if unread:
            logger.info("config keys declared but not read: %s", ", ".join(unread))
        else:
            logger.info("config keys read: all %d declared", len(cfg.reads))

    atexit.register(report_unread)
    return cfg


def flow_options(snakemake: Any, cfg: Any, decoded: bool = False) -> dict[str, Any]:
    """:func:`enfopath.models.flows.load_flow`'s options of a job: the precision, the guidance
    when the job's entry declares it (a class-conditional flow's jobs only:
    ``enfopath/study/jobs.py``) and, where ``decoded``, the SD-VAE of the rule's ``vae`` input
    that decodes a latent flow's endpoints (a pixel flow's rule has no such input)."""
    from enfopath.models.flows import Guidance
    from enfopath.models.hub import read_manifest
    from enfopath.models.latent import VaeSetup

    options: dict[str, Any] = {"precision": cfg["sampling"]["precision"]}
    if "guidance" in cfg:  # presence of a declared section, not of a study key (JobConfig)
        g = cfg["guidance"]
        options["guidance"] = Guidance(g["scale"], g["guided_channels"])
    if decoded and hasattr(snakemake.input, "vae"):
        directory = read_manifest(snakemake.input.vae)["directory"]
        options["vae"] = VaeSetup(directory, cfg["vae"]["scale"])
    return options


def study_flow(snakemake: Any, cfg: Any, device: Any, decoded: bool = False) -> tuple[Any, Any]:
    """The study's flow on ``device`` and what to log of it: a text-to-image study's pipeline
    with its prompt embeddings (the rule's ``pipeline``, ``embeddings`` and ``prompts``
    inputs: :func:`enfopath.study.t2i_flow.study_t2i_flow`), else the flow of the rule's
    ``checkpoint`` (:func:`enfopath.models.flows.load_flow` with :func:`flow_options`)."""
    from enfopath.models.flows import load_flow

    inputs = snakemake.input
    if not hasattr(inputs, "pipeline"):
        return load_flow(inputs.checkpoint, device, **flow_options(snakemake, cfg, decoded))
    from enfopath.study.t2i_flow import study_t2i_flow

    flow = study_t2i_flow(
        inputs.pipeline,
        inputs.embeddings,
        inputs.prompts,
        cfg["flow"]["diffusers"],
        cfg["prompts"]["samples_per_prompt"],
        cfg["sampling"]["precision"],
        device,
    )
    return flow, {"model": f"{flow.family.name} pipeline", "flow": flow.describe()}


def study_sampling(snakemake: Any, cfg: Any) -> Any:
    """The job's :class:`enfopath.study.shards.SamplingConfig`, with the energy grid of the
    rule's ``calibration`` input (``grids/calibration.npz``) where it has one."""
    from enfopath.io import read_npz
    from enfopath.study.energy_grid import Calibration, EnergyGrid
    from enfopath.study.shards import SamplingConfig

    energy = None
    if hasattr(snakemake.input, "calibration"):
        calibration = Calibration.from_arrays(read_npz(snakemake.input.calibration))
        energy = EnergyGrid.from_config(calibration, cfg["grid_calibration"])
    return SamplingConfig.from_config(cfg["sampling"], energy)


def band_features(snakemake: Any, cfg: Any) -> tuple[Any, dict[str, Any]]:
    """The KPE bands of the analysed samples of the rule's ``table`` input
    (:func:`enfopath.measures.prdc.kpe_bands`, ``statistics.group_quantile``) and their
    features in every density space, from the rule's ``features`` shards, row for row."""
    from enfopath.io import read_parquet
    from enfopath.measures.prdc import kpe_bands, shard_features
    from enfopath.study.tables import analysed_samples

    analysed = analysed_samples(read_parquet(snakemake.input.table))
    bands = kpe_bands(analysed["kpe"], cfg["statistics"]["group_quantile"])
    spaces = cfg["density"]["spaces"]
    return bands, shard_features(snakemake.input.features, spaces, analysed["sample"].to_numpy())


def write_space_tables(
    path: str, tables: dict[str, Any], log: logging.Logger, line: str, columns: list[str]
) -> None:
    """Each space's table logged row by row (``line`` % the row's ``columns``, after the space)
    and written as one CSV at ``path``, its ``space`` column first."""
    import pandas as pd

    from enfopath.io import write_csv

    for space, table in tables.items():
        for row in table[columns].itertuples(index=False):
            log.info(f"%s, {line}", space, *row)
    table = pd.concat([t.assign(space=s) for s, t in tables.items()], ignore_index=True)
    write_csv(path, table[["space", *table.columns.drop("space")]])


def rerun_settings(
    snakemake: Any, cfg: Any, log: logging.Logger, n_samples: int, settings: Any, reference: Any
) -> tuple[Any, Any]:
    """The study's samples 0 … n_samples − 1 re-integrated under ``reference`` and every one of
    ``settings`` (:func:`enfopath.study.robustness.integrate_settings`), the study's flow
    (:func:`study_flow`, with a latent flow's decoder) on the job's device, its sampling
    :func:`study_sampling`'s, with the set-up and progress logged: (runs, endpoints)."""
    from enfopath.models.networks import pick_device
    from enfopath.study.robustness import integrate_settings

    device = pick_device()
    flow, info = study_flow(snakemake, cfg, device, decoded=True)  # a latent flow's decoder too
    log.info(
        "samples 0…%d of %s on %s: reference %s; %d settings %s",
        n_samples - 1,
        info["model"],
        device,
        reference.label,
        len(settings),
        [s.label for s in settings],
    )
    progress = ProgressLog(log, n_samples, "samples")
    return integrate_settings(
        flow,
        cfg["seed"],
        n_samples,
        settings,
        reference,
        study_sampling(snakemake, cfg),
        device,
        progress=progress.update,
    )


def feature_models(snakemake: Any, cfg: Any, device: Any) -> Any:
    """The :class:`enfopath.measures.features.FeatureModels` of the rule's model inputs
    (``classifier``: its checkpoint; ``clip``, ``vae``, ``inception``: their download
    manifests), with the batch sizes and precision of the job's config."""
    from enfopath.measures.features import InceptionSetup, load_models
    from enfopath.models.clip import ClipSetup
    from enfopath.models.hub import read_manifest
    from enfopath.models.latent import VaeSetup
    from enfopath.study.download import fetched

    inputs = snakemake.input
    clip = vae = None
    if hasattr(inputs, "clip"):
        c = cfg["clip"]
        clip = ClipSetup(
            inputs.clip, c["interpolation"], c["batch_size"], cfg["sampling"]["precision"]
        )
    if hasattr(inputs, "vae"):
        v = cfg["vae"]
        vae = VaeSetup(read_manifest(inputs.vae)["directory"], v["scale"], v["batch_size"])
    classifier = inputs.classifier if hasattr(inputs, "classifier") else None
    with ExitStack() as stack:  # a fetched file is checked while it is read
        inception = None
        if hasattr(inputs, "inception"):
            weights = stack.enter_context(fetched(inputs.inception))
            inception = InceptionSetup(str(weights), cfg["inception"]["batch_size"])
        return load_models(device, classifier=classifier, clip=clip, vae=vae, inception=inception)


def semantics_setup(snakemake: Any, cfg: Any) -> Any:
    """The study's :class:`enfopath.measures.semantics.Semantics`: its method and, for CLIP,
    the class names of the rule's ``dataset`` input and the prompt template (a text-to-image
    study's prompts as written: ``Semantics.of_prompts``)."""
    from enfopath.io import read_npz
    from enfopath.measures.semantics import Semantics

    method = cfg["semantics"]["method"]
    if method != "clip":
        return Semantics(method)
    names = tuple(
        str(n) for n in read_npz(snakemake.input.dataset, ("class_names",))["class_names"]
    )
    if "template" not in cfg["clip"]:  # declared for every study but a text-to-image one
        return Semantics.of_prompts(names)
    return Semantics(method, names, cfg["clip"]["template"])


_FAILED: list[BaseException] = []
"""The job's uncaught error, once it has one (nothing is reported for a failed job)."""


def limit_threads(threads: int) -> None:
    """Use ``threads`` CPU threads in torch, numpy and FAISS (OpenMP / BLAS), without importing
    any of them: a job imports only what it uses, and each reads these variables when it loads
    (torch's intra-op pool follows OMP_NUM_THREADS). A module loaded already is set directly."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


class ProgressLog:
    """Progress of a long job as plain log lines (no carriage returns, readable in a cluster's
    log files): items done of the total, seconds per batch, the ETA, and what the caller adds.

    Lines are written at most every ``every_s`` seconds, and always for the last batch.
    """

    def __init__(self, log: logging.Logger, total: int, unit: str, every_s: float = 0.0):
        self.log, self.total, self.unit, self.every_s = log, total, unit, every_s
        self.done = self.batches = 0
        self.start = self.last_line = time.monotonic()

    def update(self, n: int, note: str = "") -> None:
        """Count a finished batch of ``n`` items; ``note`` is appended to its line."""
        self.done += n
        self.batches += 1
        now = time.monotonic()
        if now - self.last_line < self.every_s and self.done < self.total:
            return
        self.last_line = now
        elapsed = now - self.start
        eta = elapsed / self.done * (self.total - self.done)
        self.log.info(
            "%s %d/%d (%.0f %%)%s, %.2f s per batch, elapsed %.1f s, ETA %.1f s",
            self.unit,
            self.done,
            self.total,
            100.0 * self.done / max(self.total, 1),
            f", {note}" if note else "",
            elapsed / self.batches,
            elapsed,
            eta,
        )

    def over(self, batches: Iterable[Any]) -> Iterator[Any]:
        """Yield ``batches`` (sized), counting each one after the caller has used it."""
        for batch in batches:
            yield batch
            self.update(len(batch))
