"""Per-sample reproducibility: seeds by global index, batches aligned to it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from enfopath.models.flows import Flow
from enfopath.models.networks import VelocityMLP
from enfopath.seeding import derived_seed, initial_noise, sample_labels
from enfopath.study.shards import SamplingConfig, batches, generate_shard, shard_indices
from enfopath.velocity import FlowSpec

SHAPE = (1, 4, 4)


@pytest.fixture(scope="module")
def model() -> Flow:
    torch.manual_seed(0)
    return Flow(
        VelocityMLP(list(SHAPE), hidden=16, depth=1, time_features=8).eval(), FlowSpec(SHAPE)
    )


def _cfg(solver: str, batch_size: int) -> SamplingConfig:
    return SamplingConfig(
        solver=solver,
        steps=12,
        grid="cosine",
        rtol=1e-5,
        atol=1e-5,
        tau=0.6,
        profile_points=5,
        batch_size=batch_size,
    )


def _run(model, solver, n, shard_size, batch_size):
    parts = [
        generate_shard(
            model,
            7,
            shard_indices(s, shard_size),
            _cfg(solver, batch_size),
            torch.device("cpu"),
        )
        for s in range(n // shard_size)
    ]
    return {
        k: np.concatenate([p[k] for p in parts])
        for k in ("sample", "x0", "x1", "kpe", "kpe_early", "speed_sq", "nfe")
    }


def test_noise_depends_only_on_seed_and_index():
    a = initial_noise(5, range(0, 6), SHAPE)
    b = initial_noise(5, [4, 5, 2], SHAPE)
    assert torch.equal(a[[4, 5, 2]], b)
    assert not torch.equal(initial_noise(6, [4], SHAPE), a[[4]])
    assert derived_seed(5, "noise", 1) != derived_seed(5, "split", 1)


@pytest.mark.parametrize("solver", ["dopri5", "heun"])
def test_shard_size_does_not_change_any_bit(model, solver):
    one = _run(model, solver, 64, 64, 16)
    four = _run(model, solver, 64, 16, 16)
    for k in one:
        assert np.array_equal(one[k], four[k]), k
    assert np.array_equal(one["sample"], np.arange(64))


def test_batch_size_changes_fixed_step_results_only_by_round_off(model):
    a = _run(model, "rk4", 64, 32, 8)
    b = _run(model, "rk4", 64, 32, 32)
    assert np.array_equal(a["x0"], b["x0"])
    for k in ("x1", "kpe", "kpe_early", "speed_sq"):
        np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-6)


def test_batches_are_aligned_to_the_global_index():
    assert batches(range(32, 64), 16) == [range(32, 48), range(48, 64)]
    assert batches(range(0, 20), 8)[-1] == range(16, 20)
    with pytest.raises(ValueError, match="multiple of the batch size"):
        batches(range(24, 48), 16)


def test_kpe_table_flags_non_finite_samples(model):
    from enfopath.study.tables import ENERGIES, kpe_table, profile_columns

    arrays = generate_shard(model, 7, range(0, 8), _cfg("euler", 8), torch.device("cpu"))
    arrays["x1"][2, 0, 0, 0] = np.nan
    arrays["kpe"][5] = np.inf
    table = kpe_table(arrays)
    assert table.nonfinite.tolist() == [i in (2, 5) for i in range(8)]
    assert set(ENERGIES) <= set(table.columns)
    cols, times = profile_columns(table)
    np.testing.assert_allclose(times, np.linspace(0, 1, 5))
    np.testing.assert_array_equal(table[cols].to_numpy(), arrays["speed_sq"])


def test_labels_depend_only_on_seed_and_index():
    a = sample_labels(5, range(0, 40), 7)
    assert torch.equal(a[[30, 3]], sample_labels(5, [30, 3], 7))
    assert a.min() >= 0 and a.max() < 7 and len(set(a.tolist())) > 3
    assert not torch.equal(sample_labels(6, range(0, 40), 7), a)


def test_unconditional_shards_have_label_minus_one(model):
    arrays = generate_shard(model, 7, range(0, 4), _cfg("euler", 4), torch.device("cpu"))
    assert arrays["label"].tolist() == [-1] * 4
    assert "image" not in arrays


def test_endpoints_are_clamped_for_scoring_and_density_only():
    from enfopath.measures.images import shard_images
    from enfopath.study.shards import out_of_range

    x1 = np.array([[[[0.5, -1.0], [1.5, -2.5]]], [[[0.0, 0.1], [0.2, np.nan]]]], np.float32)
    share = out_of_range(torch.from_numpy(x1))
    np.testing.assert_allclose(share, [0.5, 0.0])  # ±1 itself is in range; NaN is not counted
    images = shard_images({"x1": x1})
    assert images.min() >= -1 and images.max() <= 1
    np.testing.assert_array_equal(images[0, 0], [[0.5, -1.0], [1.0, -1.0]])
    assert images[1, 0, 1, 1] == 0  # a flagged sample's non-finite value


def test_shards_record_the_share_of_values_outside_the_image_range(model):
    from enfopath.study.tables import kpe_table

    arrays = generate_shard(model, 7, range(0, 8), _cfg("euler", 8), torch.device("cpu"))
    outside = (np.abs(arrays["x1"]) > 1).reshape(8, -1).mean(axis=1)
    np.testing.assert_allclose(arrays["out_of_range"], outside)
    assert outside.max() > 0  # x1 itself is kept unclamped: the KPE is the state's
    np.testing.assert_allclose(kpe_table(arrays).out_of_range, outside)


def test_a_non_finite_decoded_image_flags_its_sample_like_a_non_finite_trajectory(model):
    """A decoder that returns NaN for some states (here: those whose first coordinate is
    positive): those samples, and only those, are flagged, not scored as black images."""

    def decoder(z: torch.Tensor) -> torch.Tensor:
        images = torch.tanh(z).expand(-1, 3, -1, -1).clone()
        images[z[:, 0, 0, 0] > 0] = float("nan")
        return images

    latent = Flow(model.model, FlowSpec(SHAPE), decoder=decoder)
    arrays = generate_shard(latent, 7, range(0, 16), _cfg("euler", 8), torch.device("cpu"))
    bad = arrays["x1"][:, 0, 0, 0] > 0
    assert 0 < bad.sum() < 16
    assert np.array_equal(arrays["nonfinite"], bad)
    assert np.isfinite(arrays["kpe"]).all()  # the trajectories themselves are fine
