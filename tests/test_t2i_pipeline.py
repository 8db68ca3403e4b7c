"""A diffusers pipeline folder as the study's flow, held to the pipeline itself: tiny
random-weight SD3 / FLUX.1-dev / FLUX.1-schnell pipelines (every component, tokenizers made
locally) saved with ``save_pretrained`` and reloaded offline; the project's Euler on the
pipeline's own σ schedule against ``pipe(..., output_type="latent")`` with the same noise, its
energy against ½Σ‖u_i‖²Δσ_i hooked on the scheduler's ``step`` along the pipeline's own run, its
decoding against ``pipe(..., output_type="pt")``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from fake_hub import FakeHub

from enfopath.energy import sample_with_energy
from enfopath.io import CorruptFileError
from enfopath.models.flows import Flow
from enfopath.models.t2i import (
    Prompts,
    T2IVelocity,
    latent_shape,
    pack,
    pipeline_grid,
    pipeline_sigmas,
    unpack,
)
from enfopath.models.t2i_pipeline import (
    PipelineFolderError,
    T2IFlow,
    decode_latents,
    encode_prompts,
    folder_family,
    load_pipeline,
    read_embeddings,
    truncations,
    write_embeddings,
)
from enfopath.models.tiny_t2i import build_tiny_pipeline, save_tiny_pipeline
from enfopath.seeding import initial_noise
from enfopath.study.prompts import read_prompts, truncation_notes
from enfopath.study.shards import SamplingConfig, generate_shard
from enfopath.velocity import FlowSpec

pytest.importorskip("transformers")

TEXTS = ["a red cube on a table", "two cats, one asleep"]
STEPS, SIZE, SEQ = 5, 32, 24
"""Pipeline steps, image side in pixels (latent side 16), T5 tokens kept."""


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipelines")
    return {f: save_tiny_pipeline(f, root / f, seed=7) for f in ("sd3", "flux-dev", "flux-schnell")}


@pytest.fixture(scope="module")
def pipes(folders):
    return {family: load_pipeline(folder) for family, folder in folders.items()}


class StepHook:
    """Records the prediction u_i that the pipeline hands its scheduler's ``step``."""

    def __init__(self, scheduler):
        self.scheduler, self.outputs, self.step = scheduler, [], scheduler.step

    def __enter__(self):
        def step(model_output, *args, **kwargs):
            self.outputs.append(model_output.detach().clone())
            return self.step(model_output, *args, **kwargs)

        self.scheduler.step = step
        return self

    def __exit__(self, *exc):
        self.scheduler.step = self.step

    def energy(self) -> torch.Tensor:
        """½Σ‖u_i‖²(σ_i − σ_{i+1}) along the run, per sample (float64)."""
        sigmas = self.scheduler.sigmas.double()
        return sum(
            0.5 * u.double().pow(2).flatten(1).sum(1) * (sigmas[i] - sigmas[i + 1])
            for i, u in enumerate(self.outputs)
        )


def noise(shape) -> torch.Tensor:
    return torch.randn(len(TEXTS), *shape, generator=torch.Generator().manual_seed(11))


def project_run(pipe, prompts: Prompts, x0, guidance):
    scheduler = type(pipe.scheduler).from_config(pipe.scheduler.config)
    sigmas = pipeline_sigmas(scheduler, pipe.transformer, STEPS, tuple(x0.shape[1:]))
    velocity = T2IVelocity(pipe.transformer, prompts.rows(range(len(TEXTS))), guidance=guidance)
    grid = pipeline_grid(sigmas)
    return sample_with_energy(velocity, x0, solver="euler", steps=STEPS, grid=grid)


@pytest.mark.parametrize("scale", [1.0, 4.5])
def test_sd3_is_the_pipelines_own_run_with_and_without_cfg(pipes, scale):
    pipe = pipes["sd3"]
    shape = latent_shape(pipe.transformer, SIZE, SIZE, vae_scale=pipe.vae_scale_factor)
    assert shape == (4, 16, 16)
    x0 = noise(shape)
    with StepHook(pipe.scheduler) as hook:
        want = pipe(
            prompt=TEXTS,
            negative_prompt="",
            guidance_scale=scale,
            num_inference_steps=STEPS,
            height=SIZE,
            width=SIZE,
            latents=x0.clone(),
            output_type="latent",
            max_sequence_length=SEQ,
        ).images
    assert len(hook.outputs) == STEPS
    prompts = encode_prompts(
        pipe, TEXTS, negative="" if scale > 1 else None, max_sequence_length=SEQ
    )
    got = project_run(pipe, prompts, x0, scale)
    torch.testing.assert_close(got.x1, want, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got.kpe.double(), hook.energy(), rtol=1e-5, atol=0)
    assert not torch.allclose(got.x1, x0, atol=1e-2)


@pytest.mark.parametrize("family", ["flux-dev", "flux-schnell"])
def test_flux_is_the_pipelines_own_run_with_its_guidance_embedding(pipes, family):
    """FLUX.1-dev embeds the guidance value; schnell has no guidance embedding. The pipeline
    takes and returns packed latents; the state is the unpacked latent."""
    pipe = pipes[family]
    shape = latent_shape(pipe.transformer, SIZE, SIZE, vae_scale=pipe.vae_scale_factor)
    x0 = noise(shape)
    with StepHook(pipe.scheduler) as hook:
        want = pipe(
            prompt=TEXTS,
            guidance_scale=3.5,
            num_inference_steps=STEPS,
            height=SIZE,
            width=SIZE,
            latents=pack(x0),
            output_type="latent",
            max_sequence_length=SEQ,
        ).images
    prompts = encode_prompts(pipe, TEXTS, negative=None, max_sequence_length=SEQ)
    got = project_run(pipe, prompts, x0, 3.5)
    torch.testing.assert_close(got.x1, unpack(want, *shape[1:]), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got.kpe.double(), hook.energy(), rtol=1e-5, atol=0)
    other = project_run(pipe, prompts, x0, 1.0)
    assert torch.equal(other.x1, got.x1) == (family == "flux-schnell")


@pytest.mark.parametrize("family", ["sd3", "flux-dev"])
def test_decoding_is_the_pipelines_own(pipes, family):
    """Undoing scaling 1.5 and shift 0.1 of the tiny VAE, as ``pipe(output_type="pt")`` does
    (which maps [-1, 1] to [0, 1] and clamps)."""
    pipe = pipes[family]
    shape = latent_shape(pipe.transformer, SIZE, SIZE, vae_scale=pipe.vae_scale_factor)
    x0 = noise(shape)
    packed = family != "sd3"
    common = dict(
        prompt=TEXTS, num_inference_steps=2, height=SIZE, width=SIZE, max_sequence_length=SEQ
    )
    common["latents"] = pack(x0) if packed else x0.clone()
    common["guidance_scale"] = 1.0
    latents = pipe(**common, output_type="latent").images
    common["latents"] = pack(x0) if packed else x0.clone()
    want = pipe(**common, output_type="pt").images
    state = unpack(latents, *shape[1:]) if packed else latents
    images = decode_latents(pipe, state)
    assert images.shape == (len(TEXTS), 3, SIZE, SIZE)
    torch.testing.assert_close((images / 2 + 0.5).clamp(0, 1), want, rtol=1e-5, atol=1e-5)
    unshifted = pipe.vae.decode(state / pipe.vae.config.scaling_factor).sample
    assert not torch.allclose(unshifted, images, atol=1e-3)


def test_the_family_is_read_from_the_folder_and_bad_folders_are_named(folders, tmp_path):
    assert folder_family(folders["sd3"]).name == "sd3"
    assert folder_family(folders["flux-schnell"]).name == "flux"
    with pytest.raises(PipelineFolderError, match=r"no model_index\.json; a diffusers pipeline"):
        folder_family(tmp_path)
    index = tmp_path / "model_index.json"
    index.write_text("{not json")
    with pytest.raises(PipelineFolderError, match=r"model_index\.json: not JSON"):
        folder_family(tmp_path)
    entries = json.loads((folders["sd3"] / "model_index.json").read_text())
    index.write_text(json.dumps({**entries, "transformer": ["diffusers", "UNet2DModel"]}))
    with pytest.raises(PipelineFolderError, match=r"transformer UNet2DModel is no known family"):
        folder_family(tmp_path)
    index.write_text(json.dumps({**entries, "_class_name": "FluxPipeline"}))
    with pytest.raises(
        PipelineFolderError, match=r"pipeline FluxPipeline with a SD3Transformer2DModel"
    ):
        folder_family(tmp_path)


def test_the_tiny_pipelines_are_reproducible_from_their_seed():
    a, b = build_tiny_pipeline("flux-dev", seed=3), build_tiny_pipeline("flux-dev", seed=3)
    c = build_tiny_pipeline("flux-dev", seed=4)
    wa, wb, wc = (p.transformer.state_dict() for p in (a, b, c))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not all(torch.equal(wa[k], wc[k]) for k in wa)
    with pytest.raises(ValueError, match=r"no tiny pipeline 'sana'"):
        build_tiny_pipeline("sana")


def test_every_character_tokenizes_in_clip_and_long_prompts_are_found(pipes):
    pipe = pipes["sd3"]
    ids = pipe.tokenizer(["Ünïcödé ✓ 漢字"]).input_ids[0]
    assert pipe.tokenizer.unk_token_id not in ids[1:-1]
    long = "a " * 80  # CLIP: 82 tokens with its two specials; T5: more than 24
    found = truncations(pipe, ["short", long], max_sequence_length=SEQ)
    assert {(t.index, t.tokenizer, t.limit) for t in found} == {
        (1, "tokenizer", 77),
        (1, "tokenizer_2", 77),
        (1, "tokenizer_3", SEQ),
    }
    assert truncations(pipes["flux-dev"], ["short"], max_sequence_length=SEQ) == []


def test_embeddings_round_trip_with_their_record_and_refuse_tampering(pipes, tmp_path):
    pipe = pipes["sd3"]
    prompts = encode_prompts(pipe, TEXTS, negative="", max_sequence_length=SEQ, batch_size=1)
    assert prompts.negative.shape[0] == 1 and prompts.embeds.shape[0] == len(TEXTS)
    whole = encode_prompts(pipe, TEXTS, negative="", max_sequence_length=SEQ)
    torch.testing.assert_close(prompts.embeds, whole.embeds)  # batching does not matter
    path = tmp_path / "embeddings.safetensors"
    write_embeddings(path, prompts, ["p0", "p1"], identity={"max_sequence_length": SEQ})
    ids, back = read_embeddings(path, expect={"max_sequence_length": SEQ})
    assert ids == ["p0", "p1"]
    for name in ("embeds", "pooled", "negative", "negative_pooled"):
        assert torch.equal(getattr(back, name), getattr(prompts, name))
    rows = back.rows([1, 1, 0])
    assert torch.equal(rows.embeds[0], prompts.embeds[1]) and rows.negative.shape[0] == 3
    with pytest.raises(CorruptFileError, match=r"made for max_sequence_length 24, read as"):
        read_embeddings(path, expect={"max_sequence_length": 77})
    path.write_bytes(path.read_bytes()[:-1] + b"\0")
    with pytest.raises(CorruptFileError, match=r"corrupt prompt embeddings file: its sha256"):
        read_embeddings(path)
    with pytest.raises(ValueError, match=r"flux: no classifier-free guidance, so no negative"):
        encode_prompts(pipes["flux-dev"], TEXTS, negative="", max_sequence_length=SEQ)


def sampling(**changes) -> SamplingConfig:
    options = dict(
        solver="euler",
        steps=STEPS,
        grid="shifted",
        rtol=1e-5,
        atol=1e-5,
        tau=0.5,
        profile_points=3,
        batch_size=2,
    )
    return SamplingConfig(**{**options, **changes})


@pytest.mark.parametrize("family", ["sd3", "flux-dev"])
def test_a_study_shard_on_the_shifted_grid_samples_what_the_pipeline_would(pipes, family):
    """generate_shard of the T2IFlow (2 prompts × 2 seeds, noise from (seed, i)) at the
    pipeline's steps on grid ``shifted``: each sample's latent is the pipeline's own for its
    prompt and noise, its image the pipeline's decoded one, its label its prompt."""
    pipe, sd3 = pipes[family], family == "sd3"
    scale = 4.5 if sd3 else 3.5
    prompts = encode_prompts(pipe, TEXTS, negative="" if sd3 else None, max_sequence_length=SEQ)
    flow = T2IFlow(pipe, prompts, samples_per_prompt=2, height=SIZE, width=SIZE, guidance=scale)
    arrays = generate_shard(flow, 5, range(4), sampling(), torch.device("cpu"))
    assert arrays["label"].tolist() == [0, 0, 1, 1]
    x0 = initial_noise(5, range(4), flow.shape)
    assert torch.equal(torch.from_numpy(arrays["x0"]), x0)
    call = dict(
        prompt=[TEXTS[0]] * 2 + [TEXTS[1]] * 2,
        guidance_scale=scale,
        num_inference_steps=STEPS,
        height=SIZE,
        width=SIZE,
        max_sequence_length=SEQ,
    )
    if sd3:
        call["negative_prompt"] = ""
    with StepHook(pipe.scheduler) as hook:
        latents = pipe(**call, latents=x0.clone() if sd3 else pack(x0), output_type="latent")
    want = latents.images if sd3 else unpack(latents.images, *flow.shape[1:])
    torch.testing.assert_close(torch.from_numpy(arrays["x1"]), want, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(
        torch.from_numpy(arrays["kpe"]).double(), hook.energy(), rtol=1e-5, atol=0
    )
    images = pipe(**call, latents=x0.clone() if sd3 else pack(x0), output_type="pt").images
    pixels = (images * 255).round().to(torch.uint8)
    assert arrays["image"].shape == (4, 3, SIZE, SIZE)
    assert (torch.from_numpy(arrays["image"]).int() - pixels.int()).abs().max() <= 1
    assert not arrays["nonfinite"].any()


def test_t2i_shards_do_not_depend_on_the_sharding_and_dopri5_ignores_the_shift(pipes):
    pipe = pipes["flux-schnell"]
    prompts = encode_prompts(pipe, TEXTS, negative=None, max_sequence_length=SEQ)
    flow = T2IFlow(pipe, prompts, samples_per_prompt=2, height=SIZE, width=SIZE)
    whole = generate_shard(flow, 0, range(4), sampling(), torch.device("cpu"))
    parts = [
        generate_shard(flow, 0, r, sampling(), torch.device("cpu")) for r in (range(2), range(2, 4))
    ]
    for key in ("x1", "kpe", "label", "image"):
        assert np.array_equal(whole[key], np.concatenate([p[key] for p in parts])), key
    adaptive = dict(solver="dopri5", rtol=1e-4, atol=1e-4)
    shifted = generate_shard(flow, 0, range(2), sampling(**adaptive), torch.device("cpu"))
    uniform = generate_shard(
        flow, 0, range(2), sampling(**adaptive, grid="uniform"), torch.device("cpu")
    )
    assert np.array_equal(shifted["kpe"], uniform["kpe"])
    euler_uniform = generate_shard(flow, 0, range(2), sampling(grid="uniform"), torch.device("cpu"))
    assert not np.array_equal(euler_uniform["kpe"], whole["kpe"][:2])  # the shift matters to Euler
    with pytest.raises(ValueError, match=r"the prompt set has 2 prompts × 2 seeds = 4 samples"):
        generate_shard(flow, 0, range(4, 6), sampling(), torch.device("cpu"))


def test_a_t2i_flow_refuses_cfg_without_its_negative_prompt_and_others_have_no_shifted_grid(pipes):
    prompts = encode_prompts(pipes["sd3"], TEXTS, negative=None, max_sequence_length=SEQ)
    with pytest.raises(ValueError, match=r"guidance 4\.5 > 1 is classifier-free and needs"):
        T2IFlow(pipes["sd3"], prompts, samples_per_prompt=1, height=SIZE, width=SIZE, guidance=4.5)
    with pytest.raises(ValueError, match=r"multiples of 4, got 30 × 32"):
        T2IFlow(pipes["sd3"], prompts, samples_per_prompt=1, height=30, width=SIZE)
    plain = Flow(torch.nn.Identity(), FlowSpec((2,), "t_x"))
    with pytest.raises(ValueError, match=r"sampling.grid shifted is a text-to-image pipeline's"):
        generate_shard(plain, 0, range(2), sampling(), torch.device("cpu"))


def test_a_prompt_the_encoders_truncate_is_named_by_its_line(pipes, tmp_path):
    path = tmp_path / "prompts.tsv"
    path.write_text("id\tprompt\nshort\ta red cube\nlong\t" + "word " * 90 + "\n")
    prompts = read_prompts(path)
    found = truncations(pipes["flux-dev"], [p.text for p in prompts], max_sequence_length=SEQ)
    notes = truncation_notes(path, prompts, found)
    assert [(t.index, t.tokenizer) for t in found] == [(1, "tokenizer"), (1, "tokenizer_2")]
    assert found[0].tokens == 4 * 90 + 2  # the tiny CLIP has no merges: a byte a token
    assert notes == [
        f"{path}: line 3 (id long): 362 tokens for tokenizer, which keeps 77; the encoder "
        "truncates the prompt there",
        f"{path}: line 3 (id long): {found[1].tokens} tokens for tokenizer_2, which keeps "
        f"{SEQ}; the encoder truncates the prompt there",
    ]


def test_bf16_runs_the_networks_while_the_state_and_energy_stay_float32(pipes):
    pipe = pipes["sd3"]
    prompts = encode_prompts(pipe, TEXTS, negative="", max_sequence_length=SEQ)
    runs = {}
    for precision in ("fp32", "bf16"):
        flow = T2IFlow(pipe, prompts, 1, SIZE, SIZE, guidance=4.5, precision=precision)
        x0 = initial_noise(0, range(2), flow.shape)
        velocity = flow.velocity(torch.arange(2))
        runs[precision] = sample_with_energy(
            velocity, x0, solver="euler", steps=STEPS, grid=flow.schedule_grid(STEPS)
        )
    fp32, bf16 = runs["fp32"], runs["bf16"]
    assert bf16.kpe.dtype == bf16.x1.dtype == torch.float32
    assert not torch.equal(bf16.kpe, fp32.kpe)  # autocast did run the transformer in bf16
    torch.testing.assert_close(bf16.kpe, fp32.kpe, rtol=2e-2, atol=0)


RESOLVE = """
import sys
from enfopath.models.t2i_pipeline import PipelineFolderError, resolve_pipeline
try:
    print(resolve_pipeline(sys.argv[1], sys.argv[2]))
except PipelineFolderError as err:
    print(err, file=sys.stderr)
    sys.exit(3)
"""


def resolve_through(hub, cache, repo, revision="main", **env):
    """resolve_pipeline in a fresh interpreter (the hub client reads its endpoint on import)
    against ``hub``, with the hub cache ``cache`` and ``env``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    base.update(HF_ENDPOINT=hub.url, HF_HUB_CACHE=str(cache), HF_HUB_DISABLE_XET="1", **env)
    return subprocess.run(
        [sys.executable, "-c", RESOLVE, repo, revision], env=base, capture_output=True, text=True
    )


@pytest.fixture
def gated_hub(folders, tmp_path):
    """The tiny FLUX.1-dev folder as a gated hub repository, with a single-file checkpoint
    beside the components and a half-precision variant that loading never reads."""
    repo = tmp_path / "repo"
    shutil.copytree(folders["flux-dev"], repo)
    (repo / "flux1-dev.safetensors").write_bytes(b"\0" * 64)
    weights = repo / "transformer" / "diffusion_pytorch_model.safetensors"
    shutil.copy(weights, weights.with_name("diffusion_pytorch_model.fp16.safetensors"))
    hub = FakeHub(repo, "org/tiny-flux-dev", token="hf_test_token_123")
    yield hub
    hub.close()


def test_a_gated_hub_pipeline_is_fetched_once_with_the_environments_token(gated_hub, tmp_path):
    cache = tmp_path / "cache"
    done = resolve_through(gated_hub, cache, "org/tiny-flux-dev", HF_TOKEN="hf_test_token_123")
    assert done.returncode == 0, done.stderr
    folder = Path(done.stdout.strip())
    assert folder.is_relative_to(cache) and folder_family(folder).name == "flux"
    assert {auth for _, _, auth in gated_hub.requests if auth} == {"Bearer hf_test_token_123"}
    fetched = gated_hub.fetched()
    assert "transformer/diffusion_pytorch_model.safetensors" in fetched
    assert "flux1-dev.safetensors" not in fetched  # not a component's file
    assert not any(".fp16." in f for f in fetched)
    assert "hf_test_token_123" not in done.stdout + done.stderr
    load_pipeline(folder)
    asked = len(gated_hub.requests)
    offline = resolve_through(gated_hub, cache, "org/tiny-flux-dev", HF_HUB_OFFLINE="1")
    assert offline.returncode == 0, offline.stderr
    assert Path(offline.stdout.strip()) == folder and len(gated_hub.requests) == asked


def test_a_gated_pipeline_without_the_token_is_refused_naming_hf_token(gated_hub, tmp_path):
    refused = resolve_through(
        gated_hub, tmp_path / "cache", "org/tiny-flux-dev", HF_TOKEN="hf_wrong"
    )
    assert refused.returncode == 3
    assert "gated repository (HTTP 401): accept its licence on the hub, then set HF_TOKEN" in (
        refused.stderr
    )
    assert "hf_wrong" not in refused.stderr
    missing = resolve_through(
        gated_hub, tmp_path / "cache", "org/other", HF_TOKEN="hf_test_token_123"
    )
    assert missing.returncode == 3
    assert "org/other: cannot get the pipeline at revision main from the hub, online" in (
        missing.stderr
    )


def test_a_local_pipeline_folder_is_its_own_source(folders, tmp_path):
    from enfopath.models.t2i_pipeline import resolve_pipeline

    assert resolve_pipeline(str(folders["sd3"])) == folders["sd3"]
    with pytest.raises(PipelineFolderError, match=r"no model_index\.json"):
        resolve_pipeline(str(tmp_path))
    with pytest.raises(PipelineFolderError, match=r"neither a local pipeline folder nor a hub"):
        resolve_pipeline("./missing/folder")


def test_a_prompt_file_is_encoded_once_and_its_embeddings_know_what_made_them(
    folders, pipes, tmp_path, caplog
):
    from enfopath.io import CorruptFileError
    from enfopath.study.embeddings import encode_prompt_file, read_prompt_embeddings

    prompt_file = tmp_path / "prompts.tsv"
    prompt_file.write_text("id\tprompt\ncube\ta red cube\nlong\t" + "word " * 30 + "\n")
    out = tmp_path / "embeddings.safetensors"
    setup = dict(negative="", max_sequence_length=SEQ)
    with caplog.at_level("WARNING"):
        prompts = encode_prompt_file(pipes["sd3"], folders["sd3"], prompt_file, out, **setup)
    assert [p.id for p in prompts] == ["cube", "long"]
    assert any(
        "line 3 (id long)" in r.message and "tokenizer_3" in r.message for r in caplog.records
    )
    ids, embeddings = read_prompt_embeddings(out, folders["sd3"], prompt_file, **setup)
    direct = encode_prompts(pipes["sd3"], ["a red cube", "word " * 30], **setup)
    assert ids == ["cube", "long"] and torch.equal(embeddings.embeds, direct.embeds)
    with pytest.raises(CorruptFileError, match=r"made for max_sequence_length 24, read as"):
        read_prompt_embeddings(
            out, folders["sd3"], prompt_file, negative="", max_sequence_length=32
        )
    with pytest.raises(CorruptFileError, match=r"made for negative_prompt '', read as"):
        read_prompt_embeddings(
            out, folders["sd3"], prompt_file, negative="blurry", max_sequence_length=SEQ
        )
    prompt_file.write_text("id\tprompt\ncube\ta blue cube\n")
    with pytest.raises(CorruptFileError, match=r"made for prompt_file_sha256 '"):
        read_prompt_embeddings(out, folders["sd3"], prompt_file, **setup)


def test_a_t2i_flow_describes_its_conventions_for_the_summary(pipes):
    sd3 = encode_prompts(pipes["sd3"], TEXTS, negative="", max_sequence_length=SEQ)
    got = T2IFlow(pipes["sd3"], sd3, 2, SIZE, SIZE, guidance=4.5).describe()
    assert got["family"] == "sd3" and got["timestep_scale"] == 1000.0
    assert got["guidance"] == {"kind": "cfg", "value": 4.5}
    assert got["schedule_shift"] == {"dynamic": False, "shift": 3.0}
    assert got["latent_shape"] == [4, 16, 16] and got["prompts"] == 2
    flux = encode_prompts(pipes["flux-schnell"], TEXTS, negative=None, max_sequence_length=SEQ)
    got = T2IFlow(pipes["flux-schnell"], flux, 1, SIZE, SIZE, guidance=3.5).describe()
    assert got["guidance"] == {"kind": "none"} and got["packing"] == 2
    assert got["timestep_scale"] == 1.0
    tokens = (16 // 2) ** 2  # the packed tokens of a 16 × 16 latent
    mu = 0.5 + (1.15 - 0.5) / (4096 - 256) * (tokens - 256)
    assert got["schedule_shift"] == {"dynamic": True, "mu": pytest.approx(mu)}
    json.dumps(got)


def test_a_sampling_job_loads_no_text_encoder_and_an_encoding_job_no_transformer(folders, pipes):
    from enfopath.models.t2i_pipeline import IMAGE_COMPONENTS, TEXT_COMPONENTS

    for family, folder in folders.items():
        sampler = load_pipeline(folder, without=TEXT_COMPONENTS)
        text = [k for k in sampler.components if k.startswith(TEXT_COMPONENTS)]
        assert text and all(sampler.components[k] is None for k in text), family
        assert sampler.transformer is not None and sampler.vae is not None
        encoder = load_pipeline(folder, without=IMAGE_COMPONENTS)
        assert encoder.transformer is None and encoder.vae is None
        negative = "" if family == "sd3" else None
        alone = encode_prompts(encoder, TEXTS, negative=negative, max_sequence_length=SEQ)
        full = encode_prompts(pipes[family], TEXTS, negative=negative, max_sequence_length=SEQ)
        for name in ("embeds", "pooled", "negative", "negative_pooled"):
            a, b = getattr(alone, name), getattr(full, name)
            assert (a is None and b is None) or torch.equal(a, b), (family, name)


def test_a_pipeline_manifest_names_a_file_changed_resized_or_gone(folders, tmp_path):
    from enfopath.io import write_json
    from enfopath.models.t2i_pipeline import pipeline_manifest, read_pipeline_manifest

    folder = tmp_path / "pipe"
    shutil.copytree(folders["sd3"], folder)
    manifest = tmp_path / "pipeline.json"
    record = pipeline_manifest(folder, source="here")
    assert record["family"] == "sd3" and "model_index.json" in record["files"]
    write_json(manifest, record)
    assert read_pipeline_manifest(manifest) == folder.resolve()
    config = folder / "scheduler" / "scheduler_config.json"
    text = config.read_text()
    config.write_text(text.replace('"shift": 3.0', '"shift": 4.0'))  # same size, other bytes
    assert config.stat().st_size == len(text)
    with pytest.raises(CorruptFileError, match=r"scheduler_config\.json: its sha256 differs"):
        read_pipeline_manifest(manifest)
    config.write_text(text + " ")
    with pytest.raises(CorruptFileError, match=f"{len(text) + 1} bytes, {len(text)} recorded"):
        read_pipeline_manifest(manifest)
    config.unlink()
    with pytest.raises(CorruptFileError, match="unreadable"):
        read_pipeline_manifest(manifest)
