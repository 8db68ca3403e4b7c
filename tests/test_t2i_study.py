"""A text-to-image study's DAG end to end, offline, on tiny random-weight pipelines the DAG
builds itself (flow.diffusers.tiny) and a tiny random-weight CLIP: every sample is what the
pipeline the DAG built would make of its prompt and noise, density is measured among the
samples or against a reference folder as asked, and the prompt analyses, figures, summary and
inventory are made. The full-size configs are planned by dry runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import ROOT, assert_declared_keys_read, job_counts, snakemake, write_config

from enfopath.io import read_json, read_npz, verify
from enfopath.models.t2i import pack, unpack
from enfopath.models.t2i_pipeline import load_pipeline, read_pipeline_manifest

pytestmark = pytest.mark.workflow
pytest.importorskip("transformers")

PROMPTS = [f"{c}_{i}\t{c}\ta {c} thing number {i}" for i in range(4) for c in ("cat", "dog")]
SPP, SIZE, STEPS, SEQ = 2, 32, 4, 16
"""Seeds per prompt, image side (latent side 16), Euler steps, T5 tokens kept."""


def _config(tmp_path: Path, tiny: str, guidance: float, **sections: dict) -> dict:
    prompts = tmp_path / "prompts.tsv"
    prompts.write_text("id\tcategory\tprompt\n" + "\n".join(PROMPTS) + "\n")
    config = {
        "experiment": f"t2i_{tiny}",
        "seed": 2,
        "data": {"dataset": "prompts"},
        "flow": {
            "diffusers": {
                "tiny": tiny,
                "resolution": SIZE,
                "guidance": guidance,
                "max_sequence_length": SEQ,
            }
        },
        "prompts": {"file": str(prompts), "samples_per_prompt": SPP},
        "sampling": {
            "n_samples": len(PROMPTS) * SPP,
            "shard_size": len(PROMPTS) * SPP,
            "batch_size": 4,
            "solver": "euler",
            "steps": STEPS,
            "grid": "shifted",
            "profile_points": 3,
        },
        "semantics": {"method": "clip"},
        "clip": {
            "model": "enfopath-tiny-clip",
            "model_config": str(ROOT / "configs/models/enfopath-tiny-clip.json"),
            "pretrained": "random",
            "batch_size": 8,
        },
        "density": {"spaces": ["clip", "pixels"], "reference": "samples", "k": [2, 3]},
        "statistics": {
            "bins": 4,
            "bootstrap": 20,
            "memorization": False,
            "prdc": False,
            "fidelity": False,
        },
        "robustness": {"enabled": False},
        "schedules": {"enabled": False},
        "early_rejection": {"enabled": False},
        "figures": {"grid_samples": 4},
    }
    for name, part in sections.items():
        config[name] = {**config.get(name, {}), **part}
    return config


def _run(tmp_path: Path, config: dict, *targets: str) -> Path:
    write_config(tmp_path / "config.yaml", config)
    out = f"results/{config['experiment']}"
    run = snakemake(tmp_path, *(f"{out}/{t}" for t in targets), "--cores", "2")
    assert run.returncode == 0, run.stderr[-6000:]
    assert assert_declared_keys_read(tmp_path) > 10
    return tmp_path / "results" / config["experiment"]


def _shards(out: Path) -> dict[str, np.ndarray]:
    parts = [read_npz(p) for p in sorted(out.glob("trajectories/shard_*.npz"))]
    return {k: np.concatenate([p[k] for p in parts]) for k in ("sample", "x0", "x1", "label")}


def _pipeline_latents(out: Path, shards: dict, guidance: float, sd3: bool) -> torch.Tensor:
    """What the pipeline the DAG built makes of every sample's prompt and noise."""
    pipe = load_pipeline(read_pipeline_manifest(out / "models/pipeline.json"))
    texts = [PROMPTS[i].split("\t")[2] for i in shards["label"]]
    x0 = torch.from_numpy(shards["x0"])
    call = dict(
        prompt=texts,
        guidance_scale=guidance,
        num_inference_steps=STEPS,
        height=SIZE,
        width=SIZE,
        max_sequence_length=SEQ,
        output_type="latent",
    )
    if sd3:
        latents = pipe(**call, negative_prompt="", latents=x0).images
        return latents
    return unpack(pipe(**call, latents=pack(x0)).images, *x0.shape[-2:])


@pytest.fixture(scope="module")
def sd3_study(tmp_path_factory) -> tuple[Path, dict]:
    """The SD3 study with CFG 2, density among the samples (its training data not at hand), and
    the time grids compared on its first batch, the pipeline's own shifted one among them."""
    tmp_path = tmp_path_factory.mktemp("t2i_sd3")
    config = _config(
        tmp_path,
        "sd3",
        2.0,
        schedules={
            "enabled": True,
            "n_samples": 4,
            "nfe": [2, STEPS],
            "solvers": ["euler"],
            "grids": ["uniform", "cosine", "shifted", "energy"],
        },
        grid_calibration={"n_samples": 4, "nodes": 8},
        robustness={"reference": {"solver": "dopri5", "rtol": 1e-4, "atol": 1e-4}},
    )
    return _run(tmp_path, config), config


def test_every_sample_is_the_pipelines_own_for_its_prompt_and_noise(sd3_study):
    out, _ = sd3_study
    shards = _shards(out)
    assert shards["sample"].tolist() == list(range(len(PROMPTS) * SPP))
    assert shards["label"].tolist() == [i // SPP for i in range(len(PROMPTS) * SPP)]
    want = _pipeline_latents(out, shards, 2.0, sd3=True)
    torch.testing.assert_close(torch.from_numpy(shards["x1"]), want, rtol=1e-5, atol=1e-5)
    table = pd.read_parquet(out / "samples.parquet")
    ids = [PROMPTS[i // SPP].split("\t")[0] for i in range(len(table))]
    assert table.prompt_id.tolist() == ids
    assert table.prompt.tolist() == [PROMPTS[i // SPP].split("\t")[2] for i in range(len(table))]
    assert set(table.prompt_category) == {"cat", "dog"}
    assert (table.clip_class_source == "label").all()


def test_the_pipelines_shifted_grid_is_compared_and_is_the_studys_own_sampling(sd3_study):
    """The schedules stage runs the pipeline's own σ schedule beside uniform, cosine and the
    energy grids; at the study's own steps it is the study's sampling, KPE bit for bit."""
    out, _ = sd3_study
    runs = pd.read_parquet(out / "schedules/runs.parquet")
    table = pd.read_csv(out / "statistics/schedules.csv")
    assert {"uniform", "cosine", "shifted", "adaptive"} <= set(runs.grid)
    assert set(table[table.grid == "shifted"].nfe) == {2, STEPS}
    own = runs[runs.setting == f"euler {STEPS} shifted"].sort_values("sample")
    study = pd.read_parquet(out / "samples.parquet").set_index("sample").loc[own["sample"]]
    assert own.kpe.to_numpy().tolist() == study.kpe.to_numpy().tolist()
    uniform = runs[runs.setting == f"euler {STEPS} uniform"].sort_values("sample")
    assert uniform.kpe.to_numpy().tolist() != own.kpe.to_numpy().tolist()
    assert (out / "figures/schedules.png").stat().st_size > 0


def test_density_among_the_samples_is_named_self_and_stated(sd3_study):
    out, _ = sd3_study
    table = pd.read_parquet(out / "samples.parquet")
    assert {"clip_self_knn_logdens2", "pixels_self_nn_dist"} <= set(table.columns)
    assert not [c for c in table.columns if c.startswith("clip_knn")]
    summary = read_json(out / "statistics/summary.json")
    assert "generated samples themselves" in summary["density_reference"]
    assert summary["t2i_family"] == "sd3" and summary["t2i_guidance_kind"] == "cfg"
    assert summary["t2i_guidance_value"] == 2.0 and summary["t2i_timestep_scale"] == 1000.0
    assert summary["clip_weights_sha256"] == "random weights (seed 0)"
    correlations = pd.read_csv(out / "statistics/correlations.csv")
    assert "clip_self_knn_logdens2" in set(correlations.measure)
    counts = job_counts(snakemake(out.parents[1], "-n", "--forceall", "--cores", "1").stdout)
    assert counts["self_density"] == 1 and "reference_index" not in counts
    assert counts["encode_prompts"] == 1 and counts["pipeline"] == 1


def test_the_prompt_analyses_are_tabled_and_drawn(sd3_study):
    out, _ = sd3_study
    effects = pd.read_csv(out / "statistics/prompt_effects.csv", keep_default_na=False)
    assert set(effects.analysis) == {"icc", "prompt_means", "within_prompt", "category"}
    icc = effects[effects.analysis == "icc"].set_index("measure")
    assert (icc.n_prompts == len(PROMPTS)).all() and (icc.n_samples == len(PROMPTS) * SPP).all()
    assert set(effects[effects.analysis == "category"].category) == {"cat", "dog"}
    verify(out / "figures/prompt_effects.png")


def test_a_flux_study_measures_density_against_its_reference_folder(tmp_path):
    from PIL import Image

    folder = tmp_path / "reference"
    rng = np.random.default_rng(0)
    for name in ("street", "kitchen"):
        (folder / name).mkdir(parents=True)
        for i in range(5):
            pixels = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / name / f"{i}.png")
    config = _config(
        tmp_path,
        "flux-dev",
        3.5,
        data={"folder": str(folder), "per_class": 5, "image_size": SIZE},
        density={"spaces": ["clip", "pixels"], "reference": "data", "k": [2]},
        statistics={"prdc": True, "memorization": True, "fidelity": True},
    )
    config["experiment"] = "t2i_flux_reference"
    tables = ("samples.parquet", "statistics/summary.json", "statistics/prdc.csv")
    tables += ("statistics/fidelity.csv",)
    out = _run(tmp_path, config, *tables, "statistics/memorization.csv")  # not the figures
    shards = _shards(out)
    want = _pipeline_latents(out, shards, 3.5, sd3=False)
    torch.testing.assert_close(torch.from_numpy(shards["x1"]), want, rtol=1e-5, atol=1e-5)
    table = pd.read_parquet(out / "samples.parquet")
    assert "clip_knn_logdens2" in table and not [c for c in table if "_self_" in c]
    summary = read_json(out / "statistics/summary.json")
    assert summary["density_reference"] == "the data set's reference images"
    assert summary["t2i_guidance_kind"] == "embedded" and summary["t2i_packing"] == 2
    assert json.loads(json.dumps(summary["t2i_schedule_shift_mu"])) > 0
    assert len(read_npz(out / "data/dataset.npz")["paths"]) == 10
    prdc = pd.read_csv(out / "statistics/prdc.csv")
    assert {"clip", "pixels"} <= set(prdc.space) and prdc.precision.notna().all()
    fidelity = pd.read_csv(out / "statistics/fidelity.csv")
    assert set(fidelity.space) == {"clip", "pixels"} and (fidelity.n_real == 10).all()
    assert fidelity.fd.notna().all() and fidelity.kid.notna().all()
    memorized = pd.read_csv(out / "statistics/memorization.csv")
    assert memorized.n.max() == len(PROMPTS) * SPP  # its first row: all the samples


@pytest.mark.parametrize(
    ("configfile", "shards"), [("configs/sd35_medium.yaml", 20), ("configs/flux1_schnell.yaml", 20)]
)
def test_dry_run_of_a_full_size_text_to_image_config_plans_its_jobs(tmp_path, configfile, shards):
    files = [str(ROOT / "config.yaml"), str(ROOT / configfile)]
    (tmp_path / "configs").symlink_to(ROOT / "configs")  # its prompt file, as from the root
    run = snakemake(tmp_path, "-n", "--configfile", *files, "--cores", "1")
    assert run.returncode == 0, run.stderr[-3000:]
    counts = job_counts(run.stdout)
    per_shard = ("generate_shard", "kpe_shard", "semantics_shard", "features_shard")
    assert {rule: counts[rule] for rule in per_shard} == dict.fromkeys(per_shard, shards)
    for rule in ("pipeline", "encode_prompts", "self_density", "prompt_effects", "fetch_hub"):
        assert counts[rule] == 1, rule
    for absent in ("train_flow", "train_classifier", "reference_index", "robustness"):
        assert absent not in counts, absent
