"""The CIFAR-10 and ImageNet-256 DAGs end to end on tiny stand-ins, and dry runs of the full
configs.

CIFAR-10: a tarball in the official format and a torchcfm UNet release checkpoint, both
downloaded from an HTTP server on 127.0.0.1, and a tiny open_clip model with random weights.
ImageNet-256: a folder of class subfolders as the reference set, a two-block SiT checkpoint
and a tiny AutoencoderKL given as local paths (the offline-cluster route).
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
import typing
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from conftest import (
    ROOT,
    assert_declared_keys_read,
    assert_report_renders,
    job_counts,
    snakemake,
    write_config,
)
from tiny_models import (
    TINY_SIT,
    TINY_UNET,
    make_tarball,
    random_inception,
    tiny_clip,
    tiny_sit_checkpoint,
    tiny_unet_release,
    tiny_vae,
)

from enfopath.io import read_json, read_npz
from enfopath.models.clip import load_clip
from enfopath.study.download import Asset, cache_path, cache_root

pytestmark = pytest.mark.workflow
SAMPLING = {"n_samples": 16, "shard_size": 8, "batch_size": 4, "solver": "euler", "steps": 4}
COMMON = {
    "sampling": {**SAMPLING, "profile_points": 3},
    "semantics": {"method": "clip"},
    "statistics": {"bins": 4},
    "figures": {"grid_samples": 4},
    "robustness": {
        "settings": [{"solver": "euler", "steps": 2}, {"solver": "euler", "steps": 4}],
        "reference": {"solver": "rk4", "steps": 4},
    },
    # every stage on, each as small as it goes: the tiny networks embed every setting's
    # endpoints in every space (Inception-v3 at 299² on the CPU)
    "schedules": {"nfe": [4], "solvers": ["euler"]},
    "early_rejection": {"check_times": [0.5], "shares": [0.5], "random_draws": 5},
}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    requests: typing.ClassVar[list[str]] = []

    def log_message(self, *args: object) -> None:
        _Quiet.requests.append(self.path)


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    """Tiny stand-ins: the served files, the CLIP config and weights, VAE and SiT files."""
    root = tmp_path_factory.mktemp("assets")
    www = root / "www"
    www.mkdir()
    make_tarball(www / "cifar-10-python.tar.gz", n=6)
    tiny_unet_release(www / "otcfm_cifar10_tiny.pt")
    random_inception(www / "inception.pt")
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(www))
    )
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    clip_config, clip_weights = tiny_clip(root / "clip")
    folder = root / "imagenet_train"
    rng = np.random.default_rng(0)
    from PIL import Image

    for wnid in ("n01440764", "n01443537", "n01484850"):
        (folder / wnid).mkdir(parents=True)
        for i in range(5):
            h, w = rng.integers(16, 40, 2)
            pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / wnid / f"{wnid}_{i}.JPEG", format="JPEG")
    yield {
        "url": f"http://127.0.0.1:{httpd.server_address[1]}",
        "www": www,
        "clip": {
            "model": "enfopath-tiny-clip",
            "pretrained": str(clip_weights),
            "model_config": str(clip_config),
            "batch_size": 8,
        },
        "vae": tiny_vae(root / "vae"),
        "sit": tiny_sit_checkpoint(root / "SiT-tiny.pt"),
        "folder": folder,
    }
    httpd.shutdown()
    httpd.server_close()


def _run(tmp_path: Path, config: dict) -> Path:
    write_config(tmp_path / "config.yaml", config)
    run = snakemake(tmp_path, "--cores", "2")
    assert run.returncode == 0, run.stderr[-6000:]
    assert assert_declared_keys_read(tmp_path) > 10
    return tmp_path / "results" / config["experiment"]


def test_cifar10_dag_downloads_imports_the_release_and_scores_with_clip(assets, tmp_path):
    www = assets["www"]
    tarball = www / "cifar-10-python.tar.gz"
    config = {
        "experiment": "cifar_tiny",
        "seed": 1,
        "data": {
            "dataset": "cifar10",
            "source": {
                "url": f"{assets['url']}/cifar-10-python.tar.gz",
                "md5": hashlib.md5(tarball.read_bytes()).hexdigest(),
            },
        },
        "flow": {
            "pretrained": {
                "model": "torchcfm_unet",
                "arch": TINY_UNET,
                "checkpoint": {
                    "url": f"{assets['url']}/otcfm_cifar10_tiny.pt",
                    "sha256": _sha256(www / "otcfm_cifar10_tiny.pt"),
                },
                "key": "ema_model",
            }
        },
        "clip": assets["clip"],
        "density": {"spaces": ["pixels", "clip", "inception"], "k": [2, 3]},
        "inception": {
            "weights": {
                "url": f"{assets['url']}/inception.pt",
                "sha256": _sha256(www / "inception.pt"),
            },
            "batch_size": 8,
        },
        **COMMON,
    }
    out = _run(tmp_path, config)
    assert {"/cifar-10-python.tar.gz", "/otcfm_cifar10_tiny.pt"} <= set(_Quiet.requests)
    assert read_json(out / "downloads/inception.json")["verified"]
    assert read_npz(out / "features/train_inception.npz")["features"].shape == (30, 2048)
    fidelity = pd.read_csv(out / "statistics/fidelity.csv")
    assert list(fidelity.space.unique()) == ["pixels", "clip", "inception"]
    assert fidelity.fd.notna().all() and (fidelity.n_real == 30).all()
    data = read_json(out / "downloads/data.json")
    assert data["verified"] and data["sha256"] == _sha256(tarball)
    assert read_npz(out / "data/dataset.npz")["x_train"].shape == (30, 3, 32, 32)
    shard = read_npz(out / "trajectories/shard_0.npz")
    assert shard["x1"].shape == (8, 3, 32, 32) and "image" not in shard
    assert (shard["label"] == -1).all()
    table = pd.read_parquet(out / "samples.parquet")
    assert len(table) == 16
    assert (table.clip_class_source == "zero_shot").all()
    np.testing.assert_allclose(table.kpe_per_dim, table.kpe / 3072)
    for col in ("clip_score", "clip_margin", "pixels_knn_logdens2", "clip_nn_dist", "inception_d2"):
        assert table[col].notna().all(), col
    summary = pd.read_csv(out / "statistics/summary.csv").set_index("key")["value"]
    assert summary["class_used"] == "zero-shot CLIP argmax"
    assert summary["clip_template"] == "a photo of a {}."
    assert summary["flow_model"] == "torchcfm_unet"
    corr = pd.read_csv(out / "statistics/correlations.csv")
    assert {"clip_score", "clip_margin"} <= set(corr.measure)
    assert (out / "figures/kpe_vs_margin.png").stat().st_size > 0


def test_imagenet256_dag_runs_sit_with_guidance_in_the_vae_latent(assets, tmp_path):
    config = {
        "experiment": "imagenet_tiny",
        "seed": 2,
        "data": {
            "dataset": "image_folder",
            "folder": str(assets["folder"]),
            "per_class": 4,
            "image_size": 16,
            "class_names": "imagenet",
        },
        "flow": {
            "pretrained": {
                "model": "sit",
                "arch": TINY_SIT,
                "checkpoint": {"path": str(assets["sit"]), "sha256": _sha256(assets["sit"])},
                "key": None,
            }
        },
        "guidance": {"scale": 1.5, "guided_channels": 3},
        "vae": {"source": str(assets["vae"]), "batch_size": 5},
        "clip": assets["clip"],
        "density": {"spaces": ["clip", "latent"], "k": [2, 3]},
        **COMMON,
        "statistics": {**COMMON["statistics"], "memorization": False},  # no pixel space
    }
    out = _run(tmp_path, config)
    dataset = read_npz(out / "data/dataset.npz")
    assert len(dataset["paths"]) == 12
    assert dataset["class_names"].tolist() == ["tench", "goldfish", "great white shark"]
    shard = read_npz(out / "trajectories/shard_1.npz")
    assert shard["x1"].shape == (8, 4, 8, 8)  # the latent, where the KPE is measured
    assert shard["image"].shape == (8, 3, 16, 16) and shard["image"].dtype == np.uint8
    assert set(shard["label"].tolist()) <= {0, 1, 2}
    assert read_npz(out / "features/train_latent.npz")["features"].shape == (12, 256)
    table = pd.read_parquet(out / "samples.parquet")
    np.testing.assert_allclose(table.kpe_per_dim, table.kpe / 256)
    assert (table.clip_class == table.label).all()
    assert (table.clip_class_source == "label").all()
    # the scores agree with the CLIP features of the density space and the prompts' features
    clip = load_clip(read_json(out / "downloads/clip.json"), "bicubic", torch.device("cpu"))
    text = clip.text_features(dataset["class_names"].tolist(), "a photo of a {}.")
    feats = read_npz(out / "features/shard_0.npz")
    cos = torch.nn.functional.normalize(torch.from_numpy(feats["clip"]).double(), dim=1)
    cos = cos @ torch.nn.functional.normalize(text.double(), dim=1).T
    rows = table.set_index("sample").loc[feats["sample"]]
    own = cos[torch.arange(len(cos)), torch.from_numpy(rows.label.to_numpy())]
    others = cos.scatter(1, torch.from_numpy(rows.label.to_numpy())[:, None], -2.0).amax(1)
    np.testing.assert_allclose(rows.clip_margin, 100 * (own - others).numpy(), atol=1e-3)
    np.testing.assert_allclose(rows.clip_score, 100 * own.clamp_min(0).numpy(), atol=1e-3)
    summary = pd.read_csv(out / "statistics/summary.csv").set_index("key")["value"]
    assert summary["class_used"] == "conditioning label"
    assert float(summary["guidance_scale"]) == 1.5
    assert summary["guided_channels"] == "3"
    assert summary["kpe_space"] == "SD-VAE latent (scaled)"
    # the robustness setting of the study's own solver (euler 4) is scored as the study is:
    # CLIP on the decoded images, the latent space on the latents
    from enfopath.study.tables import measure_columns

    scores = pd.read_parquet(out / "robustness/scores.parquet")
    measures = measure_columns(table, ["clip", "latent"])
    mine = scores[scores.setting == "euler 4"].set_index("sample")[measures]
    pd.testing.assert_frame_equal(mine, table.set_index("sample")[measures].loc[mine.index])
    log = (out / "logs/generate_shard/0.log").read_text()
    assert "guidance scale 1.5 on 3 channels" in log
    assert (out / "figures/grid_low_kpe.png").stat().st_size > 0
    report = snakemake(tmp_path, "--cores", "1", "--report", "report.html")
    assert report.returncode == 0, report.stderr[-3000:]
    html = (tmp_path / "report.html").read_text(errors="ignore")
    assert "guidance scale 1.5" in html and "SD-VAE latent" in html
    assert_report_renders(html)


@pytest.mark.parametrize(
    ("configfile", "extra", "expected"),
    [
        (
            "configs/cifar10.yaml",
            [],
            {
                "fetch_asset": 3,
                "fetch_hub": 1,
                "import_flow": 1,
                "generate_shard": 10,
                "memorization": 1,
                "schedules": 1,
            },
        ),
        (
            "configs/cifar10_icfm.yaml",
            [],
            {
                "fetch_asset": 3,
                "fetch_hub": 1,
                "import_flow": 1,
                "generate_shard": 10,
                "memorization": 1,
                "schedules": 1,
            },
        ),
        (
            "configs/imagenet256.yaml",
            ["--config", "data={'folder': '/data/imagenet/train'}"],
            {
                "fetch_asset": 1,
                "fetch_hub": 2,
                "import_flow": 1,
                "generate_shard": 20,
                "schedules": 1,
            },
        ),
    ],
)
def test_dry_run_of_the_full_config_lists_the_expected_jobs(tmp_path, configfile, extra, expected):
    files = [str(ROOT / "configs/cifar10.yaml")] if "icfm" in configfile else []
    files.append(str(ROOT / configfile))
    run = snakemake(tmp_path, "-n", "--configfile", *files, *extra, "--cores", "1")
    assert run.returncode == 0, run.stderr[-3000:]
    experiment = yaml.safe_load((ROOT / configfile).read_text())["experiment"]
    assert f"results/{experiment}/trajectories/shard_9.npz" in run.stdout
    counts = job_counts(run.stdout)
    shards = expected["generate_shard"]
    spaces = len(yaml.safe_load((ROOT / files[0]).read_text())["density"]["spaces"])
    memorization = expected.pop("memorization", 0)  # pixel space only: not on ImageNet
    schedules = expected.pop("schedules", 0)  # its fidelity is in pixel space too
    assert counts == {
        **expected,
        "prepare_data": 1,
        "kpe_shard": shards,
        "semantics_shard": shards,
        "features_shard": shards,
        "density_shard": shards,
        "reference_index": spaces,
        "merge_samples": 1,
        "summary": 1,
        "statistics": 1,
        "partial_correlations": 1,
        "early_prediction": 1,
        **({"memorization": 1} if memorization else {}),
        "prdc": 1,
        "fidelity": 1,
        "robustness_runs": 1,
        "robustness_scores": 1,
        "robustness": 1,
        **({"calibrate_grid": 1, "schedules": 1} if schedules else {}),
        "early_rejection_runs": 1,
        "early_rejection": 1,
        "figure": 14 + memorization + schedules,
        "page_one": 1,
        "report_tables": 1,
        "explorer": 1,
        "figure_pages": 1,
        "inventory": 1,
        "all": 1,
        "total": sum(expected.values())
        + 4 * shards
        + spaces
        + 33
        + 2 * memorization
        + 3 * schedules,
    }


def _cifar_only(assets: dict, name: str, **source: str) -> dict:
    return {
        "experiment": name,
        "data": {
            "dataset": "cifar10",
            "source": {"url": f"{assets['url']}/{name}.tar.gz", **source},
        },
    }


def test_a_checksum_mismatch_is_downloaded_once_even_with_job_retries(assets, tmp_path):
    """--retries 2 (as the SLURM profile sets) must not fetch a file that failed its md5 three
    times: the download rules have retries: 0."""
    make_tarball(assets["www"] / "mismatch.tar.gz", n=2)
    write_config(tmp_path / "config.yaml", _cifar_only(assets, "mismatch", md5="0" * 32))
    before = _Quiet.requests.count("/mismatch.tar.gz")
    run = snakemake(tmp_path, "--cores", "1", "--retries", "2", "results/mismatch/data/dataset.npz")
    assert run.returncode != 0
    log = run.stdout + run.stderr
    assert "md5 mismatch" in log
    assert _Quiet.requests.count("/mismatch.tar.gz") - before == 1


def test_an_unpinned_download_that_fails_to_read_is_fetched_again(assets, tmp_path):
    """No published checksum, a truncated tarball on the server: prepare_data fails, the
    download and its manifest are deleted, and once the server is fixed a rerun fetches anew."""
    served = assets["www"] / "unpinned.tar.gz"
    make_tarball(served, n=2)
    good = served.read_bytes()
    served.write_bytes(good[:300])
    write_config(tmp_path / "config.yaml", _cifar_only(assets, "unpinned"))
    target = "results/unpinned/data/dataset.npz"
    run = snakemake(tmp_path, "--cores", "1", target)
    assert run.returncode != 0
    assert "no published checksum, so the download and" in run.stdout + run.stderr
    downloads = tmp_path / "results/unpinned/downloads"
    assert not (downloads / "data.json").exists()
    source = _cifar_only(assets, "unpinned")["data"]["source"]
    cached = cache_path(Asset(name="data", **source), tmp_path / "resources")
    assert cached.parent.is_dir() and not cached.exists()
    served.write_bytes(good)
    rerun = snakemake(tmp_path, "--cores", "1", target)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert read_json(downloads / "data.json")["sha256"] == _sha256(served)


def test_two_experiments_share_one_download(assets, tmp_path, monkeypatch):
    """Released files are fetched once per machine: two experiments naming the same tarball
    (by its checksum) make one request; each manifest records the shared file and its sha256."""
    served = assets["www"] / "shared.tar.gz"
    make_tarball(served, n=2)
    md5 = hashlib.md5(served.read_bytes()).hexdigest()
    config = _cifar_only(assets, "shared", md5=md5)
    config["experiment"] = "first"
    write_config(tmp_path / "config.yaml", config)
    write_config(tmp_path / "second.yaml", {"experiment": "second"})
    before = _Quiet.requests.count("/shared.tar.gz")
    for name, extra in (("first", ()), ("second", ("--configfile", str(tmp_path / "second.yaml")))):
        run = snakemake(tmp_path, "--cores", "1", f"results/{name}/data/dataset.npz", *extra)
        assert run.returncode == 0, run.stderr[-3000:]
    assert _Quiet.requests.count("/shared.tar.gz") - before == 1
    first, second = (
        read_json(tmp_path / f"results/{n}/downloads/data.json") for n in ("first", "second")
    )
    assert (
        first["path"] == second["path"] == str(tmp_path / "resources/md5" / md5 / "shared.tar.gz")
    )
    assert first["sha256"] == second["sha256"] == _sha256(served)
    monkeypatch.setenv("ENFOPATH_CACHE", str(tmp_path / "elsewhere"))
    assert cache_root() == tmp_path / "elsewhere"


def test_a_released_flows_checkpoint_ladder_plans_a_fetch_and_an_import_per_rung(tmp_path):
    """flow.checkpoints on the CIFAR-10 study (torchcfm's UNet, released at 400,000 steps):
    each earlier checkpoint is fetched and imported with the release's model and arch, and run
    and scored as a rung of the ladder."""
    base = "https://github.com/atong01/conditional-flow-matching/releases/download/1.0.4"
    rungs = [
        {"step": step, "checkpoint": {"url": f"{base}/otcfm_step_{step}.pt", "sha256": "a" * 64}}
        for step in (100000, 200000)
    ]
    extra = write_config(
        tmp_path / "ladder.yaml",
        {
            "flow": {"checkpoints": rungs, "checkpoint_step": 400000},
            "replicates": {"n_samples": 256},
        },
    )
    files = [str(ROOT / "configs/cifar10.yaml"), str(extra)]
    run = snakemake(tmp_path, "-n", "--configfile", *files, "--cores", "1")
    assert run.returncode == 0, run.stderr[-3000:]
    counts = job_counts(run.stdout)
    assert counts["fetch_asset"] == 5 and counts["import_flow"] == 1  # data, flow, inception, rungs
    assert counts["import_rung"] == 2 and counts["rung_samples"] == 2 and counts["ladder"] == 1
    assert "replicate_flow" not in counts and "train_flow" not in counts
    assert "results/cifar10_otcfm/models/flow_step_100000.pt" in run.stdout
