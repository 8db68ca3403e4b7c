"""Loading a torchcfm UNet from a checkpoint in its release format (a small width, made here)."""

from __future__ import annotations

import pytest
import torch

from enfopath import sample_with_energy
from enfopath.checkpoint import load_release_checkpoint
from enfopath.io import CorruptFileError
from enfopath.models import build_model

ARCH = {
    "dim": [3, 16, 16],
    "num_channels": 32,
    "num_res_blocks": 1,
    "channel_mult": [1, 2],
    "attention_resolutions": "8",
    "num_heads": 2,
    "num_head_channels": 8,
    "dropout": 0.1,
}


@pytest.fixture(scope="module")
def unet() -> torch.nn.Module:
    torch.manual_seed(0)
    net = build_model("torchcfm_unet", ARCH).eval()
    with torch.no_grad():  # torchcfm zero-initializes its output layers: v = 0 untrained
        for p in net.parameters():
            if not p.any():
                p.normal_(0.0, 0.05)
    return net


def _release(path, unet, prefix: str = "") -> None:
    state = {prefix + k: v for k, v in unet.state_dict().items()}
    optim = torch.optim.Adam(unet.parameters())
    torch.save(
        {
            "net_model": state,
            "ema_model": state,
            "optim": optim.state_dict(),
            "sched": {"last_epoch": 3},
            "step": 400000,
        },
        path,
    )


@pytest.mark.parametrize("prefix", ["", "module."])
def test_release_checkpoint_round_trip(tmp_path, unet, prefix):
    path = tmp_path / "otcfm_cifar10_weights_step_400000.pt"
    _release(path, unet, prefix)
    loaded = load_release_checkpoint(path, "torchcfm_unet", ARCH)
    x, t = torch.randn(2, 3, 16, 16), torch.tensor(0.25)
    with torch.no_grad():
        torch.testing.assert_close(loaded(t, x), unet(t, x))
    res = sample_with_energy(loaded, x, solver="euler", steps=2, profile_points=2)
    assert res.x1.shape == x.shape and torch.isfinite(res.kpe).all()


def test_unusable_release_checkpoints_are_named(tmp_path, unet):
    path = tmp_path / "cfm.pt"
    torch.save({"net_model": unet.state_dict()}, path)
    with pytest.raises(CorruptFileError, match=r"cfm\.pt: .*no 'ema_model'"):
        load_release_checkpoint(path, "torchcfm_unet", ARCH)
    _release(path, unet)
    wrong = dict(ARCH, num_channels=64)
    with pytest.raises(CorruptFileError, match="unusable torchcfm_unet"):
        load_release_checkpoint(path, "torchcfm_unet", wrong)


def test_unet_adapter_is_time_first_with_t_in_zero_one(unet):
    """torchcfm's UNet is model(t, x), t ∈ [0, 1] (noise at 0): a 0-d t from the solver
    means the same time for every sample of the batch."""
    from enfopath.flows import Flow

    flow = Flow.from_checkpoint(unet, "torchcfm_unet", ARCH)
    assert flow.shape == (3, 16, 16) and not flow.conditional
    x = torch.randn(3, 3, 16, 16)
    v = flow.velocity(None)(torch.tensor(0.25), x)
    torch.testing.assert_close(v, unet(torch.full((3,), 0.25), x))
    assert not torch.allclose(v, unet(torch.full((3,), 250.0), x))  # not a 0…1000 scale
