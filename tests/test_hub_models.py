"""The SD-VAE latent, hub resolution (offline behaviour) and CLIP from open_clip."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from tiny_models import tiny_clip, tiny_vae

from enfopath.measures.features import FeatureModels, embed
from enfopath.measures.semantics import Semantics, clip_scores, sample_semantics
from enfopath.models.clip import ClipSpec, load_clip, resolve_clip
from enfopath.models.hub import resolve_repo_dir
from enfopath.models.latent import VAE_FILES, decode, encode, load_vae


@pytest.fixture(scope="module")
def vae_dir(tmp_path_factory):
    return tiny_vae(tmp_path_factory.mktemp("vae"))


def test_latent_is_the_scaled_posterior_mean_and_decodes_to_images(vae_dir):
    vae = load_vae(resolve_repo_dir(str(vae_dir), VAE_FILES))
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    z = encode(vae, x, 0.5)
    assert z.shape == (2, 4, 8, 8)
    torch.testing.assert_close(z, 0.5 * vae.encode(x).latent_dist.mean)
    img = decode(vae, z, 0.5)
    assert img.shape == (2, 3, 16, 16)
    torch.testing.assert_close(img, vae.decode(z / 0.5).sample)
    feats = embed("latent", x.numpy(), FeatureModels(torch.device("cpu"), vae=vae, vae_scale=0.5))
    np.testing.assert_allclose(feats, z.flatten(1).numpy(), rtol=1e-5, atol=1e-6)


def test_local_vae_directory_must_hold_its_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="lacks"):
        resolve_repo_dir(str(tmp_path), VAE_FILES)


OFFLINE_PROBE = """
import sys
from enfopath.models.hub import resolve_repo_dir
try:
    resolve_repo_dir("stabilityai/sd-vae-ft-ema", ["config.json"])
except FileNotFoundError as err:
    print(err)
    sys.exit(3)
"""


def test_offline_hub_fails_at_once_naming_the_expected_cache_path(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub")}
    start = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-c", OFFLINE_PROBE], env=env, capture_output=True, text=True
    )
    assert run.returncode == 3, run.stderr
    assert str(tmp_path / "hub" / "models--stabilityai--sd-vae-ft-ema") in run.stdout
    assert "offline" in run.stdout
    assert time.monotonic() - start < 60


@pytest.fixture(scope="module")
def clip_files(tmp_path_factory):
    return tiny_clip(tmp_path_factory.mktemp("clip"))


def _spec(clip_files, **kw):
    config, weights = clip_files
    base = {
        "model": "enfopath-tiny-clip",
        "pretrained": str(weights),
        "template": "a photo of a {}.",
        "interpolation": "bicubic",
        "model_config": str(config),
        "batch_size": 4,
    }
    return ClipSpec.from_config({**base, **kw})


def test_clip_from_a_local_weights_file_scores_and_embeds(clip_files):
    record = resolve_clip(_spec(clip_files))
    assert record["files"]["weights"]["sha256"]
    clip = load_clip(record, "bicubic", torch.device("cpu"))
    # CLIP's preprocessing: [-1, 1] → [0, 1], shortest side to 32, centre crop, normalize
    gray = torch.zeros(1, 3, 40, 64)
    pre = clip.preprocess(gray)
    assert pre.shape == (1, 3, 32, 32)
    expected = (0.5 - clip.mean) / clip.std
    torch.testing.assert_close(pre[0, :, 5, 7], expected)
    images = np.random.default_rng(0).uniform(-1, 1, (5, 3, 32, 32)).astype(np.float32)
    feats = embed("clip", images, FeatureModels(torch.device("cpu"), clip=clip), batch_size=2)
    assert feats.shape == (5, 16)
    text = clip.text_features(["cat", "dog", "car"], "a photo of a {}.")
    scores = clip_scores(torch.from_numpy(feats), text, None)
    assert scores.clip_class_source.eq("zero_shot").all()
    assert (scores.clip_margin >= 0).all()  # the argmax class has the largest cosine


def test_a_prompt_sets_samples_are_scored_against_their_own_prompt(clip_files):
    """Semantics.of_prompts: each image against the prompt it was sampled from (its label),
    the prompt as written, one over CLIP's 77 tokens cut by its tokenizer."""
    clip = load_clip(resolve_clip(_spec(clip_files)), "bicubic", torch.device("cpu"))
    models = FeatureModels(torch.device("cpu"), clip=clip)
    prompts = ["a red cube", "two cats asleep", "word " * 100]
    images = np.random.default_rng(1).uniform(-1, 1, (6, 3, 32, 32)).astype(np.float32)
    labels = np.array([0, 0, 1, 1, 2, 2])
    got = sample_semantics(Semantics.of_prompts(prompts), images, labels, models)
    assert got.clip_class.tolist() == labels.tolist() and got.clip_class_source.eq("label").all()
    feats = embed("clip", images, models, batch_size=2)
    text = clip.text_features(prompts, "{}")
    want = clip_scores(torch.from_numpy(feats), text, torch.from_numpy(labels))
    np.testing.assert_array_equal(got.clip_score, want.clip_score)
    with pytest.raises(ValueError, match=r"class label 3 has no name \(3 classes\)"):
        sample_semantics(Semantics.of_prompts(prompts), images, labels + 1, models)


def test_unknown_clip_tag_and_offline_tag_are_named(clip_files, monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="neither a local file nor a tag"):
        resolve_clip(_spec(clip_files, pretrained="no-such-tag"))
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    spec = ClipSpec.from_config(
        {
            "model": "ViT-B-32",
            "pretrained": "openai",
            "template": "{}",
            "interpolation": "bicubic",
            "batch_size": 1,
        }
    )
    with pytest.raises(FileNotFoundError, match=r"offline.*timm--vit_base_patch32_clip_224"):
        resolve_clip(spec)


@pytest.mark.parametrize("content", ["malicious", "wrong"])
def test_a_bad_clip_weights_file_is_named_with_its_key(clip_files, tmp_path, content):
    """A pickle that would run code (refused by weights-only loading) or a file of other
    weights: the error names clip.pretrained and the file."""
    bad = tmp_path / f"{content}.pt"
    if content == "malicious":
        import pickle

        class Evil:
            def __reduce__(self):
                return (os.system, ("echo pwned",))

        bad.write_bytes(pickle.dumps({"w": Evil()}))
    else:
        torch.save({"some.other.weight": torch.zeros(3)}, bad)
    record = resolve_clip(_spec(clip_files, pretrained=str(bad)))
    with pytest.raises(ValueError, match=rf"clip\.pretrained: {bad} is not loadable"):
        load_clip(record, "bicubic", torch.device("cpu"))


def test_a_weights_file_changed_after_it_was_resolved_is_named(clip_files, tmp_path):
    from enfopath.io import CorruptFileError, write_json
    from enfopath.models.hub import read_manifest

    weights = tmp_path / "w.pt"
    weights.write_bytes(clip_files[1].read_bytes())
    record = resolve_clip(_spec(clip_files, pretrained=str(weights)))
    write_json(tmp_path / "clip.json", record)
    assert read_manifest(tmp_path / "clip.json") == record
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match=rf"{weights}: the weights file's sha256"):
        read_manifest(tmp_path / "clip.json")


def test_random_clip_weights_are_the_same_in_every_job_and_say_so(tmp_path):
    from conftest import ROOT

    from enfopath.models.clip import RANDOM

    config = ROOT / "configs" / "models" / "enfopath-tiny-clip.json"
    spec = ClipSpec("enfopath-tiny-clip", RANDOM, str(config))
    record = resolve_clip(spec)
    assert record["files"] == {} and record["pretrained"] == RANDOM
    first = load_clip(record, "bicubic", torch.device("cpu"))
    torch.manual_seed(123)  # the global stream plays no part, and is left as it was
    state = torch.random.get_rng_state()
    second = load_clip(record, "bicubic", torch.device("cpu"))
    assert torch.equal(torch.random.get_rng_state(), state)
    for (name, a), (_, b) in zip(
        first.model.state_dict().items(), second.model.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
