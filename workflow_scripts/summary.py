"""Rule summary: the study's key numbers (counts, solver, models used, sample quality, copies,
provenance) in statistics/summary.csv and .json. It needs no finite sample, so a study whose
samples all diverged still records what happened."""

import pandas as pd
from _common import setup

from enfopath.io import read_json, read_parquet, write_csv, write_json
from enfopath.study.summary import copies_and_clamping, provenance, sample_quality

sm = snakemake  # noqa: F821
log = setup(sm)
cfg = sm.params.config
st = cfg["statistics"]
spaces = cfg["density"]["spaces"]
df = read_parquet(sm.input.table)
analysed = df[~df.nonfinite].reset_index(drop=True)
if analysed.empty:
    log.error("all %d samples are non-finite: nothing is left to analyse", len(df))
sc = cfg["sampling"]
setup_used = {}
if hasattr(sm.input, "classifier_metrics"):
    setup_used["classifier_test_accuracy"] = read_json(sm.input.classifier_metrics)["test_accuracy"]
if cfg["semantics"]["method"] == "clip":
    clip = read_json(sm.input.clip)
    setup_used.update(
        clip_model=cfg["clip"]["model"],
        clip_pretrained=cfg["clip"]["pretrained"],
        clip_weights_sha256=clip["files"]["weights"]["sha256"],
        clip_template=cfg["clip"]["template"],
        clip_preprocessing=f"{cfg['clip']['interpolation']} resize of the shortest side, "
        "centre crop, CLIP mean/std",
    )
    source = "conditioning label" if (df["label"] >= 0).all() else "zero-shot CLIP argmax"
else:
    source = "zero-shot argmax of the classifier (unconditional flow)"
pretrained = cfg["flow"]["pretrained"]
if pretrained is not None:
    setup_used["flow_model"] = pretrained["model"]
    setup_used["flow_checkpoint"] = pretrained["checkpoint"].get("url") or pretrained[
        "checkpoint"
    ].get("path")
    if pretrained["model"] == "sit":
        g = cfg["guidance"]
        setup_used.update(
            guidance_scale=g["scale"],
            guided_channels="all" if g["guided_channels"] is None else g["guided_channels"],
            vae=cfg["vae"]["source"],
            vae_scale=cfg["vae"]["scale"],
            kpe_space="SD-VAE latent (scaled)",
        )
plugin = cfg["flow"]["plugin"]
if plugin is not None:
    checkpoint = plugin["checkpoint"] or {}
    setup_used.update(
        flow_model=f"plugin {plugin['factory']}",
        flow_convention=plugin["convention"],
        flow_time=f"{plugin['time']['direction']}, scale {plugin['time']['scale']}",
        flow_checkpoint=checkpoint.get("url") or checkpoint.get("path") or "from the factory",
    )
    if plugin["convention"] == "x_t_y":
        g = cfg["guidance"]
        setup_used.update(
            guidance_scale=g["scale"],
            guided_channels="all" if g["guided_channels"] is None else g["guided_channels"],
        )
if hasattr(sm.input, "vae"):
    setup_used["vae_weights_sha256"] = read_json(sm.input.vae)["files"][
        "diffusion_pytorch_model.safetensors"
    ]["sha256"]
summary = {
    "experiment": cfg["experiment"],
    **provenance(),
    "n_samples": len(df),
    "n_nonfinite_excluded": int(df.nonfinite.sum()),
    "n_analysed": len(analysed),
    "solver": sc["solver"],
    "solver_setting": (
        f"rtol={sc['rtol']}, atol={sc['atol']}"
        if sc["solver"] == "dopri5"
        else f"{sc['steps']} steps, {sc['grid']} grid"
    ),
    "batch_size": sc["batch_size"],
    "nfe_mean": float(df.nfe.mean()),
    "tau": sc["tau"],
    "kpe_mean": float(analysed.kpe.mean()),
    "kpe_per_dim_mean": float(analysed.kpe_per_dim.mean()),
    "straightness_mean": float(analysed.straightness.mean()),
    "chord_energy_mean": float(analysed.chord_energy.mean()),
    "spearman_kpe_x0_norm_sq": float(analysed.kpe.corr(analysed.x0_norm_sq, method="spearman")),
    "precision": sc["precision"],
    "class_used": source,
    **setup_used,
    **sample_quality(analysed),
    **copies_and_clamping(analysed, spaces),
    "endpoint_rule": "KPE of the unclamped ODE state; semantics and image-space density of "
    "the image clamped to [-1, 1]",
    "bootstrap_resamples": st["bootstrap"],
    "confidence": st["confidence"],
    "multiple_testing": "Benjamini-Hochberg q-values per p-value column and table",
    "group_quantile": st["group_quantile"],
    "seed": cfg["seed"],
}
write_csv(sm.output.summary, pd.DataFrame({"key": list(summary), "value": list(summary.values())}))
write_json(sm.output.json, summary)
