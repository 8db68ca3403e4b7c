"""What the study's summary table records beyond the statistics: provenance, sample quality,
exact copies and clamped values."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from enfopath.columns import density_prefixes
from enfopath.shaping import mean_gain

CONFIDENT = 0.9
"""A generated sample is confidently recognised when the classifier's confidence reaches this."""


def provenance(root: str | Path | None = None) -> dict[str, str]:
    """The ``enfopath`` version and the git commit of the code at ``root`` (the repository that
    holds the package by default), ``+dirty`` when the work tree has uncommitted changes, or
    ``unknown`` outside a git work tree. Snakemake does not track library code: this says which
    code made the numbers."""
    import enfopath

    root = Path(enfopath.__file__).resolve().parents[1] if root is None else Path(root)
    commit = "unknown"
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if head.returncode == 0:
            dirty = subprocess.run(
                ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
                timeout=30,
            )
            commit = head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.TimeoutExpired):
        pass
    return {"enfopath_version": enfopath.__version__, "git_commit": commit}


def sample_quality(df: pd.DataFrame) -> dict[str, object]:
    """How recognisable the analysed generated samples are, from their semantic columns.

    Classifier semantics: mean confidence, share with confidence ≥ :data:`CONFIDENT`, and the
    count of samples per predicted class. CLIP: mean score and margin, and, where the class is
    the conditioning label, the share whose CLIP zero-shot argmax is that label (margin > 0).
    """
    out: dict[str, object] = {}
    if "clf_confidence" in df:
        out["generated_mean_confidence"] = float(df.clf_confidence.mean())
        out[f"generated_share_confidence_ge_{CONFIDENT}"] = float(
            (df.clf_confidence >= CONFIDENT).mean()
        )
        counts = df.clf_class.value_counts().sort_index()
        out["generated_class_counts"] = " ".join(f"{c}:{n}" for c, n in counts.items())
    if "clip_score" in df:
        out["generated_mean_clip_score"] = float(df.clip_score.mean())
        out["generated_mean_clip_margin"] = float(df.clip_margin.mean())
        if (df.clip_class_source == "label").all():
            out["generated_clip_accuracy_vs_label"] = float((df.clip_margin > 0).mean())
    return out


def copies_and_clamping(df: pd.DataFrame, spaces: list[str]) -> dict[str, object]:
    """Counts of exact copies of training points per space, and the image values clamped."""
    out: dict[str, object] = {
        f"n_exact_copies_{s}": int(df[f"{s}_exact_copy"].sum())
        for s in spaces
        if f"{s}_exact_copy" in df
    }
    share = df["out_of_range"].to_numpy(np.float64)
    out["out_of_range_mean_share"] = float(share.mean())
    out["samples_with_values_clamped"] = float((share > 0).mean())
    return out


def samples_identity(first_shard: dict[str, np.ndarray], dataset: dict[str, np.ndarray]) -> dict:
    """What makes two studies' samples the same samples, to be compared one by one: the state
    shape and the sha256 of the first sample's noise x0 (float32, little-endian bytes) from
    the first trajectory shard, and the sha256 of the reference set they are measured against
    (the training images of an array dataset, or an image folder's file list, its files' sha256
    and the crop size)."""
    x0 = np.ascontiguousarray(first_shard["x0"][0], dtype="<f4")
    reference = hashlib.sha256()
    for key in ("x_train", "paths", "sha256", "image_size"):
        if key in dataset:
            reference.update(key.encode() + np.ascontiguousarray(dataset[key]).tobytes())
    return {
        "state_shape": list(x0.shape),
        "noise_sha256": hashlib.sha256(x0.tobytes()).hexdigest(),
        "reference_sha256": reference.hexdigest(),
    }


def kpe_definition(sampling: dict[str, Any]) -> str:
    """What a study's ``kpe`` is: the plain energy, or under Kinetic Trajectory Shaping the
    shaped one (the velocity integrated is η v), with the span it covers."""
    kts, t_end = sampling["kts"], sampling["t_end"]
    span = "₀¹" if t_end == 1.0 else f"₀^{t_end:g}"
    if not (kts["alpha0"] or kts["beta0"]):
        return f"E = ½∫{span}‖v‖²dt (no trajectory shaping)"
    tau, k = kts["switch_time"], kts["landing_sharpness"]
    if kts["gain"] == "constant":
        c = mean_gain(kts["alpha0"], kts["beta0"], tau, k)
        return (
            f"E = ½∫{span}c²‖v‖²dt, constant gain c = ∫η dt = {c:.4f} (the control of KTS "
            f"α₀ = {kts['alpha0']}, β₀ = {kts['beta0']}, τ = {tau}, k = {k})"
        )
    return (
        f"shaped E = ½∫{span}η²‖v‖²dt (KTS α₀ = {kts['alpha0']}, β₀ = {kts['beta0']}, "
        f"τ = {tau}, k = {k})"
    )


def kpe_footnote(sampling: dict[str, Any]) -> str | None:
    """The footnote of a figure whose KPE is not the axes' E = ½∫₀¹‖v‖²dt (a study stopped at
    t_end < 1, or under trajectory shaping), None for the plain energy."""
    kts = sampling["kts"]
    if sampling["t_end"] == 1.0 and not (kts["alpha0"] or kts["beta0"]):
        return None
    return f"KPE here: {kpe_definition(sampling)}"


def _guidance(cfg: dict[str, Any]) -> dict[str, Any]:
    g = cfg["guidance"]
    channels = "all" if g["guided_channels"] is None else g["guided_channels"]
    return {"guidance_scale": g["scale"], "guided_channels": channels}


def models_used(
    cfg: dict[str, Any],
    labels: np.ndarray,
    *,
    classifier_metrics: dict[str, Any] | None = None,
    clip_record: dict[str, Any] | None = None,
    vae_record: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What the summary records about the models of a study: the flow (released, the user's
    own, or trained), its guidance and decoder, the classifier's test accuracy, CLIP's backbone,
    weights, prompt and preprocessing, which class the semantic scores used (``class_used``),
    and the hashes of downloaded weights. ``cfg`` is the summary rule's config slice, ``labels``
    the samples' conditioning labels (−1: unconditional), the records the rule's inputs."""
    used: dict[str, Any] = {}
    if classifier_metrics is not None:
        used["classifier_test_accuracy"] = classifier_metrics["test_accuracy"]
    if cfg["semantics"]["method"] == "clip":
        assert clip_record is not None, "CLIP semantics need the CLIP manifest"
        used.update(
            clip_model=cfg["clip"]["model"],
            clip_pretrained=cfg["clip"]["pretrained"],
            clip_weights_sha256=clip_record["files"]["weights"]["sha256"]
            if "weights" in clip_record["files"]
            else f"random weights (seed {clip_record['random_seed']})",
            clip_template=cfg["clip"].get("template", "each sample's own prompt, as written"),
            clip_preprocessing=f"{cfg['clip']['interpolation']} resize of the shortest side, "
            "centre crop, CLIP mean/std",
        )
        conditioned = len(labels) > 0 and bool((labels >= 0).all())
        used["class_used"] = "conditioning label" if conditioned else "zero-shot CLIP argmax"
    else:
        used["class_used"] = "zero-shot argmax of the classifier (unconditional flow)"
    pretrained, plugin = cfg["flow"]["pretrained"], cfg["flow"]["plugin"]
    if pretrained is not None:
        checkpoint = pretrained["checkpoint"]
        used["flow_model"] = pretrained["model"]
        used["flow_checkpoint"] = checkpoint.get("url") or checkpoint.get("path")
        if pretrained["model"] == "sit":
            used.update(
                **_guidance(cfg),
                vae=cfg["vae"]["source"],
                vae_scale=cfg["vae"]["scale"],
                kpe_space="SD-VAE latent (scaled)",
            )
    if plugin is not None:
        checkpoint = plugin["checkpoint"] or {}
        used.update(
            flow_model=f"plugin {plugin['factory']}",
            flow_convention=plugin["convention"],
            flow_time=f"{plugin['time']['direction']}, scale {plugin['time']['scale']}",
            flow_checkpoint=checkpoint.get("url") or checkpoint.get("path") or "from the factory",
        )
        if plugin["convention"] == "x_t_y":
            used.update(_guidance(cfg))
    if vae_record is not None:
        weights = vae_record["files"]["diffusion_pytorch_model.safetensors"]
        used["vae_weights_sha256"] = weights["sha256"]
    return used


DENSITY_REFERENCES = {
    "data": "the data set's reference images",
    "samples": "the generated samples themselves, each leaving itself out (columns {space}_self_*"
    "; no training data at hand)",
}
"""What density is measured against, in words, by ``density.reference``."""


def text_to_image_used(
    cfg: dict[str, Any], pipeline_record: dict[str, Any], flow: dict[str, Any]
) -> dict[str, Any]:
    """What the summary records of a text-to-image flow: the pipeline (source or tiny, its
    revision, family, and the sha256 of its model_index.json), the prompt set, and ``flow``,
    what the sampling jobs recorded of it (:meth:`enfopath.models.t2i_pipeline.T2IFlow.describe`:
    the timestep scale, the guidance applied, packing, the shift or μ, sizes, precision), flat."""
    d = cfg["flow"]["diffusers"]
    source, tiny, negative = d["source"], d["tiny"], d["negative_prompt"]
    source = source if tiny is None else f"tiny {tiny} pipeline (random weights)"
    used: dict[str, Any] = {
        "flow_model": f"diffusers {flow['pipeline']} ({source})",
        "flow_revision": d["revision"] or ("main" if tiny is None else "built here"),
        "pipeline_model_index_sha256": pipeline_record["files"]["model_index.json"]["sha256"],
        "prompt_file": cfg["prompts"]["file"],
        "samples_per_prompt": cfg["prompts"]["samples_per_prompt"],
        "negative_prompt": negative if flow["guidance"]["kind"] == "cfg" else None,
        "max_sequence_length": d["max_sequence_length"],
        "kpe_space": "the scaled latent the transformer sees"
        + (" (packed tokens: a permutation of it)" if flow["packing"] > 1 else ""),
    }
    requested = {"resolution": d["resolution"], "guidance": d["guidance"]}
    for key, value in flow.items():
        if isinstance(value, dict):
            used |= {f"t2i_{key}_{k}": v for k, v in value.items()}
        else:
            used[f"t2i_{key}"] = value
    used["t2i_requested"] = (
        f"resolution {requested['resolution']}, guidance {requested['guidance']}"
    )
    return used


def study_summary(
    cfg: dict[str, Any], table: pd.DataFrame, used: dict[str, Any], identity: dict[str, Any]
) -> dict[str, Any]:
    """The key numbers of a study, in order (``statistics/summary.csv`` and ``.json``): its
    name and provenance, what its samples are (the data set, ``identity`` of
    :func:`samples_identity`, the density spaces), sample counts, the solver, the mean
    energies, ``used`` (:func:`models_used`), sample quality, copies and clamping, and the
    statistics' settings. Flagged (non-finite) samples are counted and left out of the means."""
    sc, st = cfg["sampling"], cfg["statistics"]
    analysed = table[~table.nonfinite].reset_index(drop=True)
    return {
        "experiment": cfg["experiment"],
        **provenance(),
        "dataset": cfg["data"]["dataset"],
        **identity,
        "density_spaces": list(cfg["density"]["spaces"]),
        "density_reference": DENSITY_REFERENCES[cfg["density"]["reference"]],
        "density_k": list(cfg["density"]["k"]),
        "n_samples": len(table),
        "n_nonfinite_excluded": int(table.nonfinite.sum()),
        "n_analysed": len(analysed),
        "solver": sc["solver"],
        "solver_setting": (
            f"rtol={sc['rtol']}, atol={sc['atol']}"
            if sc["solver"] == "dopri5"
            else f"{sc['steps']} steps, {sc['grid']} grid"
        ),
        "batch_size": sc["batch_size"],
        "nfe_mean": float(table.nfe.mean()),
        "tau": sc["tau"],
        "t_end": sc["t_end"],
        "kpe_definition": kpe_definition(sc),
        "kpe_mean": float(analysed.kpe.mean()),
        "kpe_per_dim_mean": float(analysed.kpe_per_dim.mean()),
        "straightness_mean": float(analysed.straightness.mean()),
        "chord_energy_mean": float(analysed.chord_energy.mean()),
        "spearman_kpe_x0_norm_sq": float(analysed.kpe.corr(analysed.x0_norm_sq, method="spearman")),
        "precision": sc["precision"],
        **used,
        **sample_quality(analysed),
        **copies_and_clamping(analysed, density_prefixes(cfg["density"])),
        "endpoint_rule": "KPE of the unclamped ODE state; semantics and image-space density of "
        "the image clamped to [-1, 1]",
        "bootstrap_resamples": st["bootstrap"],
        "confidence": st["confidence"],
        "multiple_testing": "Benjamini-Hochberg q-values per p-value column and table",
        "group_quantile": st["group_quantile"],
        "seed": cfg["seed"],
    }
