"""Model checkpoints: a plain dict of tensors and builtins, loaded with ``weights_only=True``."""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from enfopath.io import CorruptFileError, ExplainedError, atomic_path, verify
from enfopath.models.networks import build_model

FORMAT = "enfopath-checkpoint-v1"


class ReleaseMismatch(ExplainedError, ValueError):
    """A released checkpoint that reads fine but does not fit the config (no entry ``key``,
    weights of another architecture): the config's problem, so a download of it is kept."""


def _plain(value: Any) -> Any:
    """``value`` with every dict (of any dict type) a plain dict, recursively."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_plain(item) for item in value)
    return value


def save_checkpoint(
    path: str | os.PathLike[str],
    name: str,
    arch: dict[str, Any],
    model: nn.Module,
    meta: dict[str, Any],
) -> None:
    """Save ``model``'s weights, what rebuilds it (registered name, arch kwargs) and ``meta``
    (a mapping of another type, such as a job's config slice, is stored as a plain dict, which
    a weights-only load accepts)."""
    payload = {
        "format": FORMAT,
        "model": name,
        "arch": _plain(arch),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "meta": _plain(meta),
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_release_checkpoint(
    path: str | os.PathLike[str],
    name: str,
    arch: dict[str, Any],
    key: str | None = "ema_model",
    device: torch.device | str = "cpu",
) -> nn.Module:
    """Rebuild a registered model from a third-party training checkpoint (eval mode).

    The file is a dict holding state dicts (torchcfm's releases: ``net_model``,
    ``ema_model``, ``optim``, ``sched``, ``step``) and ``key`` picks the weights, or, with
    ``key = None``, a bare state dict (the public SiT checkpoint). It is read with
    ``weights_only=True``; a ``module.`` prefix left by DataParallel training is removed.

    Raises :class:`CorruptFileError` when the file is missing or unreadable as a weights-only
    torch file, and :class:`ReleaseMismatch` naming ``flow.pretrained.key`` or
    ``flow.pretrained.arch`` when it reads fine but does not fit them.
    """
    if not os.path.exists(path):
        raise CorruptFileError(f"{path}: checkpoint file does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CorruptFileError(f"{path}: unusable {name} checkpoint ({err})") from err
    if not isinstance(payload, dict) or (key is not None and key not in payload):
        keys = sorted(payload)[:8] if isinstance(payload, dict) else type(payload).__name__
        raise ReleaseMismatch(
            f"flow.pretrained.key: {path} holds no {key!r} weights (it has {keys})"
        )
    weights = payload if key is None else payload[key]
    try:
        state = {k.removeprefix("module."): v for k, v in weights.items()}
        model = build_model(name, arch)
        model.load_state_dict(state)
    except Exception as err:
        raise ReleaseMismatch(
            f"flow.pretrained.arch: the weights of {path} do not fit the {name} of "
            f"flow.pretrained.arch ({err})"
        ) from err
    return model.to(device).eval()


def load_checkpoint(
    path: str | os.PathLike[str], device: torch.device | str = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model of a checkpoint in eval mode on ``device``; return it and its meta
    (with the registered ``model`` name and its ``arch`` added).

    Raises :class:`CorruptFileError` naming the file when it is missing, differs from the
    sha256 recorded when it was written, is not a checkpoint of this format, or does not fit
    its architecture.
    """
    verify(path, "checkpoint")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise ValueError(f"not an {FORMAT} file")
        model = build_model(payload["model"], payload["arch"])
        model.load_state_dict(payload["state_dict"])
    except ExplainedError:  # the user's model cannot be imported or built: said by its key
        raise
    except Exception as err:
        raise CorruptFileError(f"{path}: corrupt or unreadable checkpoint ({err})") from err
    info = {**payload["meta"], "model": payload["model"], "arch": payload["arch"]}
    return model.to(device).eval(), info
