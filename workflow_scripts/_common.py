"""Set-up shared by the workflow scripts: import path, logging into the rule's log, threads.

Each script is a thin adapter: it reads the ``snakemake`` object, calls the ``enfopath`` package
and writes the declared outputs (atomically, through ``enfopath.io``).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def setup(snakemake: Any) -> logging.Logger:
    """Log to the rule's log file (and warnings to stderr), set torch threads, log failures."""
    log_file = snakemake.log[0]
    Path(log_file).parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_file, mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.WARNING)
    logging.basicConfig(level=logging.INFO, handlers=[handler, console], force=True)
    logging.captureWarnings(True)
    logger = logging.getLogger(f"enfopath.{snakemake.rule}")

    def excepthook(kind: type[BaseException], err: BaseException, tb: Any) -> None:
        logger.critical("rule %s failed: %s", snakemake.rule, err, exc_info=(kind, err, tb))

    sys.excepthook = excepthook
    import torch

    torch.set_num_threads(max(1, int(snakemake.threads)))
    logger.info(
        "rule %s, %d thread(s), wildcards %s",
        snakemake.rule,
        snakemake.threads,
        dict(snakemake.wildcards),
    )
    return logger


def progress_stream(snakemake: Any) -> Any:
    """A text stream into the rule's log for tqdm progress bars."""
    return open(snakemake.log[0], "a", buffering=1)
