"""SiT-XL/2 architecture, its calling convention and classifier-free guidance."""

from __future__ import annotations

import pytest
import torch
from conftest import ROOT
from tiny_models import TINY_SIT

from enfopath.energy import sample_with_energy
from enfopath.models.flows import Flow
from enfopath.models.networks import build_model, flow_spec
from enfopath.models.sit import SIT_XL_2, SiT
from enfopath.study.config import load_config
from enfopath.velocity import FlowSpec, GuidedVelocity, NetworkVelocity


def test_sit_xl_2_has_the_published_parameter_count():
    with torch.device("meta"):
        model = SiT(**SIT_XL_2)
    # SiT-XL/2 = DiT-XL/2: 675,129,632 parameters, pos_embed included (the published 675 M)
    assert sum(p.numel() for p in model.parameters()) == 675_129_632
    state = model.state_dict()
    assert state["final_layer.linear.weight"].shape == (2 * 2 * 8, 1152)  # learned sigma
    assert state["y_embedder.embedding_table.weight"].shape == (1001, 1152)  # + null class
    assert state["pos_embed"].shape == (1, 256, 1152)
    assert "blocks.27.adaLN_modulation.1.weight" in state
    spec = flow_spec("sit", SIT_XL_2)
    assert (spec.shape, spec.call, spec.num_classes) == ((4, 32, 32), "x_t_y", 1000)
    config = load_config(ROOT / "configs/imagenet256.yaml")["flow"]["pretrained"]
    assert config["model"] == "sit" and config["arch"] == SIT_XL_2


@pytest.fixture(scope="module")
def sit() -> SiT:
    return build_model("sit", TINY_SIT, seed=0).eval()


def test_velocity_is_the_first_half_of_the_learned_sigma_output(sit):
    x, t, y = torch.randn(3, 4, 8, 8), torch.rand(3), torch.tensor([0, 1, 2])
    v = sit(x, t, y)
    assert v.shape == (3, 4, 8, 8)
    h = sit.x_embedder(x) + sit.pos_embed
    c = sit.t_embedder(t) + sit.y_embedder(y)
    for block in sit.blocks:
        h = block(h, c)
    full = sit.unpatchify(sit.final_layer(h, c))
    assert full.shape == (3, 8, 8, 8)
    torch.testing.assert_close(v, full[:, :4])


def test_guidance_of_three_of_four_channels_as_sit_samples(sit):
    x, t, y = torch.randn(2, 4, 8, 8), torch.tensor(0.3), torch.tensor([2, 0])
    tt = t.expand(2)
    cond = sit(x, tt, y)
    uncond = sit(x, tt, torch.full_like(y, 3))
    mixed = uncond + 1.5 * (cond - uncond)
    three = GuidedVelocity(sit, y, 1.5, null_class=3, guided_channels=3)(t, x)
    torch.testing.assert_close(three[:, :3], mixed[:, :3])
    torch.testing.assert_close(three[:, 3], cond[:, 3])
    torch.testing.assert_close(GuidedVelocity(sit, y, 1.5, null_class=3)(t, x), mixed)
    torch.testing.assert_close(GuidedVelocity(sit, y, 1.0, null_class=3)(t, x), cond)


class _Recorder(torch.nn.Module):
    """v(x, t, y) = t (broadcast): records the times and labels it is called with."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[torch.Tensor, torch.Tensor]] = []

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.calls.append((t.clone(), y.clone()))
        return t[:, None, None, None].expand_as(x).clone()


def test_conditional_adapter_passes_t_in_zero_one_per_sample_and_integrates_noise_to_data():
    rec = _Recorder()
    flow = Flow(rec, FlowSpec((4, 2, 2), "x_t_y", num_classes=5), guidance_scale=1.0)
    labels = torch.tensor([1, 4])
    res = sample_with_energy(
        flow.velocity(labels), torch.zeros(2, 4, 2, 2), solver="euler", steps=4, tau=0.5
    )
    times = [c[0] for c in rec.calls]
    assert all(t.shape == (2,) and t[0] == t[1] for t in times)
    assert {0.0, 0.25, 0.5, 0.75} <= {float(t[0]) for t in times}
    assert all(0.0 <= float(t[0]) <= 1.0 for t in times)
    assert all(torch.equal(c[1], labels) for c in rec.calls)
    # v = t: x(1) = Σ t_i Δt = 0.375 (Euler), E = ½ Σ ‖v‖² Δt with ‖v‖² = 16 t²
    torch.testing.assert_close(res.x1, torch.full((2, 4, 2, 2), 0.375))


def test_bf16_autocast_keeps_the_state_float32():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 16))

    def model(t, x):
        return net(x).reshape(x.shape)

    x = torch.randn(4, 1, 4, 4)
    full = NetworkVelocity(model, "fp32")(torch.tensor(0.5), x)
    half = NetworkVelocity(model, "bf16")(torch.tensor(0.5), x)
    assert half.dtype == torch.float32
    torch.testing.assert_close(half, full, rtol=0.05, atol=0.05)
    assert not torch.equal(half, full)


def test_guided_bf16_velocity_is_float32_and_close(sit):
    x, t, y = torch.randn(2, 4, 8, 8), torch.tensor(0.7), torch.tensor([1, 2])
    full = GuidedVelocity(sit, y, 1.5, null_class=3, guided_channels=3)(t, x)
    half = GuidedVelocity(sit, y, 1.5, null_class=3, guided_channels=3, precision="bf16")(t, x)
    assert half.dtype == torch.float32
    torch.testing.assert_close(half, full, rtol=0.1, atol=0.1)
