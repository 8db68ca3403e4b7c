"""One flow spec for every flow (enfopath.velocity.FlowSpec) and one velocity route: the
registered models' specs (enfopath.models.networks.REGISTERED), the user's, and the checks."""

from __future__ import annotations

import pytest
import torch

from enfopath.models.networks import MODELS, REGISTERED, flow_spec
from enfopath.models.plugin import PluginSpec
from enfopath.velocity import FlowSpec, GuidedVelocity, NetworkVelocity, TimeConvention


class _Affine(torch.nn.Module):
    """v = a·x + b·t (+ the class), called in any convention."""

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        x, t = (args[1], args[0]) if args[0].dim() == 0 else (args[0], args[1])
        t = t.reshape(-1, *[1] * (x.dim() - 1)) if t.dim() else t
        y = args[2].reshape(-1, *[1] * (x.dim() - 1)).to(x.dtype) if len(args) == 3 else 0.0
        return 0.5 * x + 2.0 * t + 0.1 * y


def test_every_registered_flow_has_a_spec_and_only_the_classifier_has_none():
    arches = {
        "velocity_mlp": {"shape": [1, 8, 8]},
        "torchcfm_unet": {"dim": [3, 32, 32]},
        "empirical": {"shape": [2]},
        "sit": {"input_size": 16, "in_channels": 4, "num_classes": 10},
        "plugin": {"factory": "m:f", "shape": [3, 4, 4], "convention": "x_t"},
    }
    assert set(REGISTERED) == set(arches) == set(MODELS) - {"classifier_mlp"}
    specs = {name: flow_spec(name, arch) for name, arch in arches.items()}
    assert specs["velocity_mlp"] == FlowSpec((1, 8, 8))
    assert specs["torchcfm_unet"] == FlowSpec((3, 32, 32))
    assert specs["sit"] == FlowSpec((4, 16, 16), "x_t_y", num_classes=10)
    assert specs["plugin"] == FlowSpec((3, 4, 4), "x_t")
    with pytest.raises(ValueError, match=r"classifier_mlp.* generates no samples"):
        flow_spec("classifier_mlp", {})


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"call": "t_x_y"}, "expected one of"),
        ({"call": "x_t_y"}, "class-conditional network"),
        ({"num_classes": 3}, "class-conditional network"),
        ({"shape": ()}, "state shape"),
    ],
)
def test_a_spec_that_cannot_be_called_is_refused_naming_why(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FlowSpec(**{"shape": (2,), **kwargs})


def test_the_one_route_is_the_adapter_of_each_convention_bit_for_bit():
    net, x, t = _Affine(), torch.randn(5, 2, generator=torch.Generator().manual_seed(0)), None
    t = torch.tensor(0.3)
    flipped = TimeConvention("data_to_noise", 1000.0)
    for call in ("t_x", "x_t"):
        for time in (TimeConvention(), flipped):
            got = FlowSpec((2,), call, time).velocity(net)(t, x)
            want = NetworkVelocity(net, "fp32", call, time)(t, x)
            assert torch.equal(got, want)
    labels = torch.tensor([0, 1, 2, 0, 1])
    guided = FlowSpec((2,), "x_t_y", flipped, num_classes=3).velocity(net, labels, 2.5, None)
    want = GuidedVelocity(net, labels, 2.5, null_class=3, time=flipped)
    assert torch.equal(guided(t, x), want(t, x))
    with pytest.raises(ValueError, match="labels"):
        FlowSpec((2,), "x_t_y", num_classes=3).velocity(net)


def test_the_users_section_and_its_spec_state_the_same_flow():
    section = {
        "factory": "m:f",
        "shape": [4, 2, 2],
        "convention": "x_t_y",
        "num_classes": 7,
        "time": {"direction": "data_to_noise", "scale": 1000},
    }
    spec = PluginSpec.from_config(section)
    assert spec.flow_spec == FlowSpec(
        (4, 2, 2), "x_t_y", TimeConvention("data_to_noise", 1000.0), num_classes=7
    )
