"""Loading a torchcfm UNet from a checkpoint in its release format (a small width, made here)."""

from __future__ import annotations

import pytest
import torch
from tiny_models import TINY_UNET, save_release, tiny_unet

from enfopath import sample_with_energy
from enfopath.io import CorruptFileError
from enfopath.models.checkpoint import ReleaseMismatch, load_release_checkpoint

ARCH = TINY_UNET


@pytest.fixture(scope="module")
def unet() -> torch.nn.Module:
    return tiny_unet()


@pytest.mark.parametrize("prefix", ["", "module."])
def test_release_checkpoint_round_trip(tmp_path, unet, prefix):
    path = tmp_path / "otcfm_cifar10_weights_step_400000.pt"
    save_release(path, unet, prefix)
    loaded = load_release_checkpoint(path, "torchcfm_unet", ARCH)
    x, t = torch.randn(2, 3, 32, 32), torch.tensor(0.25)
    with torch.no_grad():
        torch.testing.assert_close(loaded(t, x), unet(t, x))
    res = sample_with_energy(loaded, x, solver="euler", steps=2, profile_points=2)
    assert res.x1.shape == x.shape and torch.isfinite(res.kpe).all()


def test_unusable_release_checkpoints_are_named(tmp_path, unet):
    path = tmp_path / "cfm.pt"
    torch.save({"net_model": unet.state_dict()}, path)
    with pytest.raises(ReleaseMismatch, match=r"flow\.pretrained\.key: .*cfm\.pt .*no 'ema_model'"):
        load_release_checkpoint(path, "torchcfm_unet", ARCH)
    save_release(path, unet)
    wrong = dict(ARCH, num_channels=64)
    with pytest.raises(ReleaseMismatch, match=r"flow\.pretrained\.arch: .*do not fit"):
        load_release_checkpoint(path, "torchcfm_unet", wrong)
    path.write_bytes(b"<html>503</html>")  # the file itself: corrupt (an unpinned one refetched)
    with pytest.raises(CorruptFileError, match="unusable torchcfm_unet"):
        load_release_checkpoint(path, "torchcfm_unet", ARCH)


def test_unet_adapter_is_time_first_with_t_in_zero_one(unet):
    """torchcfm's UNet is model(t, x), t ∈ [0, 1] (noise at 0): a 0-d t from the solver
    means the same time for every sample of the batch."""
    from enfopath.models.flows import Flow

    flow = Flow.from_checkpoint(unet, "torchcfm_unet", ARCH)
    assert flow.shape == (3, 32, 32) and not flow.conditional
    x = torch.randn(3, 3, 32, 32)
    v = flow.velocity(None)(torch.tensor(0.25), x)
    torch.testing.assert_close(v, unet(torch.full((3,), 0.25), x))
    assert not torch.allclose(v, unet(torch.full((3,), 250.0), x))  # not a 0…1000 scale
