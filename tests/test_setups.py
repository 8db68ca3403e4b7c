"""The typed set-ups the library takes instead of a job's config slice or rule inputs, and the
policy that moved out of the workflow scripts into the library (issue 19, §4)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from tiny_models import TINY_SIT

from enfopath.measures.density import build_index, reference_radii
from enfopath.measures.features import CHEAP_BATCH, load_models
from enfopath.measures.semantics import Semantics, classifier_scores, sample_semantics
from enfopath.models.checkpoint import save_checkpoint
from enfopath.models.clip import ClipSetup
from enfopath.models.flows import Guidance, load_flow
from enfopath.models.latent import SD_VAE_SCALE, VaeSetup
from enfopath.models.networks import build_model
from enfopath.models.training import check_accuracy

MLP = {"shape": [1, 2, 2], "hidden": 8, "depth": 1, "time_features": 4}
CPU = torch.device("cpu")


@pytest.fixture
def mlp_checkpoint(tmp_path):
    path = tmp_path / "flow.pt"
    save_checkpoint(path, "velocity_mlp", MLP, build_model("velocity_mlp", MLP, seed=0), {})
    return str(path)


@pytest.fixture
def sit_checkpoint(tmp_path):
    path = tmp_path / "sit.pt"
    save_checkpoint(path, "sit", TINY_SIT, build_model("sit", TINY_SIT, seed=0), {})
    return str(path)


def test_an_unconditional_flow_loads_with_its_precision_and_refuses_guidance(mlp_checkpoint):
    flow, info = load_flow(mlp_checkpoint, CPU, precision="bf16")
    assert info["model"] == "velocity_mlp" and flow.precision == "bf16"
    assert flow.shape == (1, 2, 2) and not flow.conditional and flow.decoder is None
    with pytest.raises(ValueError, match=r"flow\.pt \(velocity_mlp\) is unconditional: it takes"):
        load_flow(mlp_checkpoint, CPU, guidance=Guidance(4.0))


def test_a_class_conditional_flow_needs_its_guidance_and_carries_it(sit_checkpoint):
    with pytest.raises(ValueError, match=r"sit\.pt \(sit\) is class-conditional: it needs its"):
        load_flow(sit_checkpoint, CPU)
    flow, _ = load_flow(sit_checkpoint, CPU, guidance=Guidance(4.0, guided_channels=3))
    assert (flow.guidance_scale, flow.guided_channels, flow.num_classes) == (4.0, 3, 3)
    x, labels = torch.randn(2, *flow.shape), torch.tensor([0, 2])
    v_guided = flow.velocity(labels)(torch.tensor(0.5), x)
    unguided, _ = load_flow(sit_checkpoint, CPU, guidance=Guidance(1.0))
    v_plain = unguided.velocity(labels)(torch.tensor(0.5), x)
    assert not torch.equal(v_guided[:, :3], v_plain[:, :3])
    torch.testing.assert_close(v_guided[:, 3:], v_plain[:, 3:])  # the unguided 4th channel


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: Guidance(2.0, guided_channels=0), r"guidance\.guided_channels must be at least"),
        (lambda: VaeSetup("vae", scale=0.0), r"vae\.scale must be positive, got 0\.0"),
        (lambda: VaeSetup("vae", batch_size=0), r"vae\.batch_size must be at least 1, got 0"),
        (lambda: ClipSetup("clip.json", "bicubic", 0), r"clip\.batch_size must be at least 1"),
    ],
)
def test_a_setup_refuses_a_value_naming_its_config_key(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_the_vae_setup_defaults_are_the_sd_vae_scale():
    assert VaeSetup("vae").scale == SD_VAE_SCALE


def test_feature_models_load_only_what_a_job_names(tmp_path):
    arch = {"shape": [1, 4, 4], "classes": 3, "hidden": [8], "dropout": 0.0}
    path = tmp_path / "classifier.pt"
    save_checkpoint(path, "classifier_mlp", arch, build_model("classifier_mlp", arch, 0), {})
    models = load_models(CPU, classifier=str(path))
    assert models.clip is None and models.vae is None and models.classifier is not None
    assert models.batch("classifier") == CHEAP_BATCH and models.batch("pixels") == CHEAP_BATCH
    assert models.classifier.features(torch.zeros(2, 1, 4, 4)).shape[0] == 2
    assert load_models(CPU).classifier is None


def test_reference_radii_refuse_a_set_without_a_kth_neighbour_naming_density_k():
    points = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    index = build_index(points)
    assert reference_radii(index, points, [1, 4]).shape == (2, 5)
    with pytest.raises(ValueError, match=r"density\.k = \[1, 5\] needs more than 5 reference"):
        reference_radii(index, points, [1, 5])


@pytest.mark.parametrize("accuracy", [0.5, float("nan")])
def test_a_classifier_below_the_accuracy_gate_stops_the_study(accuracy):
    with pytest.raises(RuntimeError, match=r"below classifier\.min_test_accuracy = 0\.9"):
        check_accuracy(accuracy, 0.9)


def test_a_classifier_at_the_gate_passes():
    check_accuracy(0.9, 0.9)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"method": "inception"}, r"semantics\.method 'inception' is not one of"),
        ({"method": "clip"}, r"CLIP scores need the dataset's class names"),
        ({"method": "clip", "class_names": ("cat",), "template": "a {} {}"}, r"clip\.template"),
    ],
)
def test_the_semantics_refuse_what_cannot_score(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Semantics(**kwargs)


def test_classifier_semantics_are_the_classifiers_scores_of_the_images(tmp_path):
    arch = {"shape": [1, 4, 4], "classes": 3, "hidden": [8], "dropout": 0.0}
    path = tmp_path / "classifier.pt"
    save_checkpoint(path, "classifier_mlp", arch, build_model("classifier_mlp", arch, 1), {})
    models = load_models(CPU, classifier=str(path))
    images = np.random.default_rng(0).uniform(-1, 1, (5, 1, 4, 4)).astype(np.float32)
    got = sample_semantics(Semantics("classifier"), images, np.full(5, -1), models)
    with torch.no_grad():
        want = classifier_scores(models.classifier(torch.from_numpy(images)))
    pd.testing.assert_frame_equal(got, want)
    assert got.clf_confidence.between(1 / 3, 1).all()
