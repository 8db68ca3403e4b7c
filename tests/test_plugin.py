"""The user's own flow model: conventions mapped onto ours, errors that name the key, and a model
written by the test into a folder on PYTHONPATH run through the real DAG."""

from __future__ import annotations

import copy
import hashlib
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from conftest import (
    ROOT,
    TINY,
    assert_declared_keys_read,
    core_stages_only,
    local_env,
    snakemake,
    write_config,
)

from enfopath import sample_with_energy
from enfopath.analytic import gaussian_energy, gaussian_velocity
from enfopath.io import CorruptFileError
from enfopath.models.plugin import (
    PluginError,
    PluginSpec,
    build_decoder,
    build_network,
    check_network,
    load_weights,
)
from enfopath.seeding import initial_noise
from enfopath.study.config import ConfigError, validate_config
from enfopath.user_code import FactoryRefused
from enfopath.velocity import GuidedVelocity, NetworkVelocity, TimeConvention

MU = torch.tensor([1.5, -0.5, 0.25], dtype=torch.float64)
S = 0.6
OURS = gaussian_velocity(MU, S)  # v(x, t): noise at t = 0, data at t = 1


def foreign(convention: str, direction: str, scale: float):
    """The closed-form Gaussian field as another library would ship it: called in
    ``convention``, its own time running ``direction`` and scaled by ``scale``."""

    def our_time(s: torch.Tensor) -> torch.Tensor:
        s = s / scale
        return 1.0 - s if direction == "data_to_noise" else s

    def u(x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:  # its own velocity dx/ds
        t = our_time(s)
        v = OURS(t.reshape(-1, 1) if t.dim() else t, x)
        return -v if direction == "data_to_noise" else v

    class Network(torch.nn.Module):
        def forward(self, *args: torch.Tensor) -> torch.Tensor:
            if convention == "t_x":
                s, x = args
            else:
                x, s = args[0], args[1]
                assert s.shape == (len(x),)  # x_t and x_t_y get one time per sample
            return u(x, s)

    return Network()


CASES = [
    (convention, direction, scale)
    for convention in ("t_x", "x_t", "x_t_y")
    for direction in ("noise_to_data", "data_to_noise")
    for scale in (1.0, 1000.0)
]


@pytest.mark.parametrize(("convention", "direction", "scale"), CASES)
def test_each_convention_maps_onto_ours_on_a_closed_form_field(convention, direction, scale):
    network = foreign(convention, direction, scale)
    time = TimeConvention(direction, scale)
    if convention == "x_t_y":
        labels = torch.zeros(64, dtype=torch.int64)
        velocity = GuidedVelocity(network, labels, 1.0, null_class=1, time=time)
    else:
        velocity = NetworkVelocity(network, convention=convention, time=time)
    x0 = torch.randn(64, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    for t in (0.0, 0.3, 0.9):
        tt = torch.tensor(t, dtype=torch.float64)
        x = x0 * (1 - t) + t
        torch.testing.assert_close(velocity(tt, x), OURS(tt, x), rtol=1e-12, atol=1e-12)
    res = sample_with_energy(velocity, x0, solver="dopri5", rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(res.kpe, gaussian_energy(x0, MU, S), rtol=1e-6, atol=0)


def test_a_wrong_time_direction_is_a_different_field():
    """The mapping matters: the same network read in the wrong direction is another flow."""
    network = foreign("t_x", "data_to_noise", 1.0)
    x = torch.randn(8, 3, dtype=torch.float64)
    t = torch.tensor(0.3, dtype=torch.float64)
    wrong = NetworkVelocity(network)(t, x)
    assert not torch.allclose(wrong, OURS(t, x))


def test_the_identity_convention_passes_time_and_velocity_through_bit_for_bit():
    calls = []

    def model(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        calls.append(t)
        return x * 3.0

    t, x = torch.tensor(0.37), torch.randn(4, 2)
    assert torch.equal(NetworkVelocity(model)(t, x), x * 3.0)
    assert calls[0] is t


USER_MODULE = textwrap.dedent(
    '''
    """A user's flow, trained the other way round: its time s runs from data (0) to noise
    (1000), and it is called as model(x, s) (convention x_t)."""
    import torch
    from torch import nn


    class DataToNoiseMLP(nn.Module):
        def __init__(self, dim, hidden):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(dim + 1, hidden), nn.SiLU(), nn.Linear(hidden, dim))

        def forward(self, x, s):
            flat = x.flatten(1)
            h = torch.cat([flat, s[:, None].to(flat.dtype) / 1000.0], dim=1)
            return self.net(h).reshape(x.shape)


    def build(dim=64, hidden=32):
        return DataToNoiseMLP(dim, hidden)


    def not_a_network():
        return "a string"


    class Upsample(nn.Module):
        """A latent model's decoder: states (B, 1, 8, 8) to images (B, 1, 16, 16)."""

        def forward(self, z):
            return torch.tanh(z).repeat_interleave(2, dim=-1).repeat_interleave(2, dim=-2)


    def upsample():
        return Upsample()


    def flat_decoder():
        return nn.Flatten()


    def nan_decoder():
        return nn.Sequential(nn.Flatten(0), nn.Unflatten(0, (-1, 1, 8, 8)), NaNs())


    class NaNs(nn.Module):
        def forward(self, x):
            return x * float("nan")


    class IntegerVelocity(nn.Module):
        def forward(self, x, s):
            return (x * 3).long()


    class NotAModule:
        def __init__(self, **kwargs):
            raise AssertionError("a class that is not an nn.Module must never be called")


    class Callable:
        def __call__(self, **kwargs):
            raise AssertionError("a callable object must never be called")


    CALLABLE = Callable()
    from os import system  # re-exported: defined in the standard library
    from subprocess import run
    from enfopath.io import write_json
    '''
)


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """The user's model file in its own folder, importable here and by the DAG's jobs."""
    folder = tmp_path / "user_code"
    folder.mkdir()
    (folder / "tiny_user_flow.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")])
    )
    sys.modules.pop("tiny_user_flow", None)
    return folder


SECTION = {
    "factory": "tiny_user_flow:build",
    "kwargs": {"dim": 64, "hidden": 32},
    "convention": "x_t",
    "shape": [1, 8, 8],
    "time": {"direction": "data_to_noise", "scale": 1000.0},
}


def plugin_config(section: dict) -> dict:
    cfg = copy.deepcopy(TINY)
    cfg["flow"] = {"plugin": section}
    return cfg


def test_config_checks_name_the_key_without_importing_the_model(user_module):
    validate_config(plugin_config(SECTION))
    assert "tiny_user_flow" not in sys.modules  # found, not imported
    for change, key in (
        ({"factory": "no_such_module_anywhere:build"}, "flow.plugin.factory"),
        ({"factory": "tiny_user_flow.build"}, "flow.plugin.factory"),
        ({"convention": "x_t_y"}, "flow.plugin.num_classes"),
        ({"num_classes": 10}, "flow.plugin.num_classes"),
        ({"time": {"direction": "sideways"}}, "flow.plugin.time.direction"),
        ({"checkpoint": {"url": "https://example.org/a.pt", "path": "a.pt"}}, "checkpoint"),
    ):
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            validate_config(plugin_config({**SECTION, **change}))
    both = plugin_config(SECTION)
    both["flow"]["pretrained"] = {
        "model": "torchcfm_unet",
        "arch": {},
        "checkpoint": {"path": "x.pt"},
    }
    with pytest.raises(ConfigError, match="not both"):
        validate_config(both)


def test_the_network_is_checked_in_its_conventions_before_sampling(user_module):
    spec = PluginSpec.from_config(validate_config(plugin_config(SECTION))["flow"]["plugin"])
    network = build_network(spec)
    check_network(spec, network, None, torch.device("cpu"))  # answers as configured
    as_t_x = PluginSpec.from_config({**SECTION, "convention": "t_x"})
    with pytest.raises(PluginError, match=r"flow\.plugin\.convention.*model\(t, x\)"):
        check_network(as_t_x, network, None, torch.device("cpu"))
    wrong_shape = PluginSpec.from_config({**SECTION, "shape": [1, 4, 16]})
    check_network(wrong_shape, network, None, torch.device("cpu"))  # 64 coordinates either way
    too_big = PluginSpec.from_config({**SECTION, "shape": [1, 8, 9]})
    with pytest.raises(PluginError, match=r"flow\.plugin\.(shape|convention)"):
        check_network(too_big, network, None, torch.device("cpu"))
    for change, problem in (
        ({"factory": "tiny_user_flow:missing"}, "has no attribute 'missing'"),
        ({"factory": "tiny_user_flow:not_a_network", "kwargs": {}}, "not a torch nn.Module"),
        ({"kwargs": {"width": 3}}, r"\(\*\*flow\.plugin\.kwargs\) failed.*width"),
        ({"factory": "no_such_module_anywhere:build"}, "importing 'no_such_module_anywhere'"),
    ):
        with pytest.raises(PluginError, match=rf"flow\.plugin\.factory: .*{problem}"):
            build_network(PluginSpec.from_config({**SECTION, **change}))


def test_weights_load_weights_only_and_a_mismatch_names_the_keys(user_module, tmp_path):
    spec = PluginSpec.from_config(SECTION)
    network = build_network(spec)
    path = tmp_path / "weights.pt"
    torch.save({"ema": network.state_dict()}, path)
    fresh = build_network(spec)
    load_weights(fresh, str(path), "ema")
    for a, b in zip(fresh.state_dict().values(), network.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    with pytest.raises(PluginError, match=r"flow\.plugin\.key: .* no entry 'model'"):
        load_weights(fresh, str(path), "model")
    other = build_network(PluginSpec.from_config({**SECTION, "kwargs": {"hidden": 16}}))
    with pytest.raises(PluginError, match=r"do not fit the network of flow\.plugin\.factory"):
        load_weights(other, str(path), "ema")


def test_plugin_velocity_of_a_class_conditional_model_needs_labels(user_module):
    spec = PluginSpec.from_config({**SECTION, "convention": "x_t_y", "num_classes": 3})
    with pytest.raises(ValueError, match="labels"):
        spec.flow_spec.velocity(torch.nn.Identity())


class _OneClassNet(torch.nn.Module):
    """A class-conditional net with one class and an embedding of that class only (no null
    row): any label but 0 is out of range, as it is for an nn.Embedding(num_classes, ...)."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(1, 64)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x + self.embed(y).reshape(x.shape)


def test_the_check_draws_labels_of_the_models_own_classes(user_module):
    spec = PluginSpec.from_config({**SECTION, "convention": "x_t_y", "num_classes": 1})
    check_network(spec, _OneClassNet(), None, torch.device("cpu"))  # labels 0, 0


def write_weights(folder: Path) -> tuple[Path, str]:
    """The user's released weights: a dict with the state dict under ``ema``; its sha256."""
    sys.modules.pop("tiny_user_flow", None)
    import tiny_user_flow

    torch.manual_seed(5)
    network = tiny_user_flow.build(64, 32)
    path = folder / "weights.pt"
    torch.save({"ema": network.state_dict(), "step": 100}, path)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.workflow
def test_a_users_model_runs_through_the_dag_with_the_library_kpe(user_module, tmp_path):
    weights, digest = write_weights(user_module)
    section = {**SECTION, "checkpoint": {"path": str(weights), "sha256": digest}, "key": "ema"}
    cfg = plugin_config(section)
    cfg["experiment"] = "own_model"
    cfg = core_stages_only(cfg)
    workdir = tmp_path / "study"
    workdir.mkdir()
    write_config(workdir / "config.yaml", cfg)
    out = workdir / "results" / "own_model"
    run = snakemake(workdir, "--cores", "2", "results/own_model/samples.parquet")
    assert run.returncode == 0, run.stderr[-5000:]
    assert assert_declared_keys_read(workdir) > 10
    assert "rule train_flow" not in run.stderr and "rule plugin_flow" in run.stderr
    assert "tiny_user_flow:build" in (out / "logs" / "plugin_flow.log").read_text()
    table = pd.read_parquet(out / "samples.parquet").sort_values("sample")
    assert len(table) == 96 and table["pixels_nn_dist"].notna().all()

    # The library on the same noise, with the user's own hand-written adapter.
    sys.modules.pop("tiny_user_flow", None)
    import tiny_user_flow

    network = tiny_user_flow.build(64, 32)
    network.load_state_dict(torch.load(weights, weights_only=True)["ema"])
    network.eval()

    def velocity(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        s = ((1.0 - t) * 1000.0).reshape(-1).expand(len(x))
        return -network(x, s)

    sc = validate_config(copy.deepcopy(cfg))["sampling"]
    kpe = []
    with torch.no_grad():
        for start in range(0, 96, sc["batch_size"]):  # the study's batches (dopri5 steps)
            x0 = initial_noise(cfg["seed"], range(start, start + sc["batch_size"]), (1, 8, 8))
            res = sample_with_energy(
                velocity, x0, solver=sc["solver"], rtol=sc["rtol"], atol=sc["atol"]
            )
            kpe.append(res.kpe.numpy())
    np.testing.assert_allclose(table["kpe"].to_numpy(), np.concatenate(kpe), rtol=1e-5)


@pytest.mark.workflow
def test_a_model_that_cannot_be_built_stops_before_any_sampling(user_module, tmp_path):
    cfg = plugin_config({**SECTION, "factory": "tiny_user_flow:missing"})
    cfg["experiment"] = "broken_model"
    write_config(tmp_path / "config.yaml", cfg)
    out = tmp_path / "results" / "broken_model"
    run = snakemake(tmp_path, "--cores", "1", "results/broken_model/trajectories/shard_0.npz")
    assert run.returncode != 0
    log = (out / "logs" / "plugin_flow.log").read_text()
    assert "flow.plugin.factory" in log and "has no attribute 'missing'" in log
    assert not (out / "trajectories").exists() and not (out / "models" / "flow.pt").exists()


@pytest.mark.workflow
def test_the_readme_example_gives_the_closed_form_kpe(tmp_path, monkeypatch):
    """configs/own_model.yaml with examples/own_model/my_flow.py, as the README runs it: the
    exact Gaussian flow, so the study's KPE is known in closed form."""
    folder = ROOT / "examples" / "own_model"
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")])
    )
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    target = "results/own_model/kpe/shard_0.parquet"
    run = snakemake(
        tmp_path, "--cores", "2", target, "--configfile", str(ROOT / "configs/own_model.yaml")
    )
    assert run.returncode == 0, run.stderr[-5000:]
    monkeypatch.syspath_prepend(str(folder))
    from my_flow import digits_gaussian

    flow = digits_gaussian()
    cfg = validate_config(yaml.safe_load((ROOT / "config.yaml").read_text()))
    table = pd.read_parquet(tmp_path / target)
    x0 = initial_noise(cfg["seed"], table["sample"].tolist(), (1, 8, 8), dtype=torch.float64)
    exact = gaussian_energy(x0, flow.mu.double(), flow.s).numpy()
    np.testing.assert_allclose(table["kpe"].to_numpy(), exact, rtol=2e-4)

    # The README's command line on the same model: the study's KPE table, bit for bit.
    readme = (ROOT / "README.md").read_text()
    block = readme[readme.index("### From the command line") :]
    start = block.index("```bash\n") + len("```bash\n")
    command = block[start : block.index("```", start)]
    shutil.copytree(folder, tmp_path / "examples" / "own_model")  # its relative PYTHONPATH
    bin_dir = str(Path(sys.executable).parent)  # where the console script is installed
    env = {**local_env(), "PATH": os.pathsep.join([bin_dir, os.environ["PATH"]])}
    run = subprocess.run(command, shell=True, cwd=tmp_path, capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    line = pd.read_parquet(tmp_path / "kpe.parquet").iloc[: len(table)]
    pd.testing.assert_frame_equal(line, table[list(line.columns)], check_exact=True)


def test_the_readme_shows_the_example_files_as_they_are():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## KPE on your own model") :]
    for path in ("examples/own_model/my_flow.py", "configs/own_model.yaml"):
        assert (ROOT / path).read_text().strip() in section, path


def test_the_readmes_notebook_route_runs():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## KPE on your own model") :]
    block = section[section.index("In a notebook") :]
    code = block[
        block.index("```python\n") + 10 : block.index("```", block.index("```python\n") + 10)
    ]
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("torch.Size([256])")


def test_a_latent_models_decoder_makes_the_images(user_module):
    from enfopath.models.flows import Flow

    spec = PluginSpec.from_config({**SECTION, "decoder": "tiny_user_flow:upsample"})
    network, decoder = build_network(spec), build_decoder(spec)
    check_network(spec, network, decoder, torch.device("cpu"))
    flow = Flow(network, spec.flow_spec, decoder=decoder)
    images = flow.images(torch.randn(3, 1, 8, 8))
    assert images.shape == (3, 1, 16, 16) and images.abs().max() <= 1
    assert Flow(network, spec.flow_spec).images(torch.randn(3, 1, 8, 8)) is None
    flat = PluginSpec.from_config({**SECTION, "decoder": "tiny_user_flow:flat_decoder"})
    with pytest.raises(PluginError, match=r"flow\.plugin\.decoder: expected floating images"):
        check_network(flat, network, build_decoder(flat), torch.device("cpu"))


@pytest.mark.parametrize(
    "factory",
    ["os:system", "subprocess:run", "builtins:exec", "shutil:rmtree", "os.path:join"],
)
def test_the_standard_library_is_refused_when_the_dag_is_built_and_never_called(factory, tmp_path):
    """``flow.plugin.factory: os:system`` with a command in its kwargs: refused by name, by
    the config check and by the job alike, and the command never runs."""
    marker = tmp_path / "ran"
    section = {**SECTION, "factory": factory, "kwargs": {"command": f"touch {marker}"}}
    with pytest.raises(ConfigError, match=r"'flow\.plugin\.factory': .*standard library"):
        validate_config(plugin_config(section))
    with pytest.raises(FactoryRefused, match=r"flow\.plugin\.factory: .*standard library"):
        build_network(PluginSpec.from_config(section))
    decoder = {**SECTION, "decoder": factory, "decoder_kwargs": {"command": f"touch {marker}"}}
    with pytest.raises(ConfigError, match=r"'flow\.plugin\.decoder': .*standard library"):
        validate_config(plugin_config(decoder))
    assert not marker.exists()


@pytest.mark.parametrize(
    ("factory", "problem"),
    [
        ("tiny_user_flow:system", "is a builtin_function_or_method, not a Python function"),
        ("tiny_user_flow:run", "standard library module 'subprocess'"),
        ("tiny_user_flow:write_json", "workflow's own package"),
        ("tiny_user_flow:NotAModule", "not a subclass of torch.nn.modules.module.Module"),
        ("tiny_user_flow:CALLABLE", "is a Callable, not a Python function or a class"),
        ("torch.hub:load", "installed package.*trusted_packages \\(e\\.g\\. \\[torch\\]\\)"),
        ("enfopath.study.download:fetch", "workflow's own package"),
    ],
)
def test_a_factory_is_checked_for_what_it_is_before_it_is_called(user_module, factory, problem):
    """What an import path resolves to decides, after import and before any call: a function
    re-exported from the standard library or from the workflow is refused where it is defined."""
    spec = PluginSpec.from_config({**SECTION, "factory": factory, "kwargs": {"command": "true"}})
    with pytest.raises(FactoryRefused, match=rf"flow\.plugin\.factory: .*{problem}"):
        build_network(spec)


def test_network_classes_anywhere_and_trusted_packages_functions_are_allowed(user_module):
    assert isinstance(
        build_network(PluginSpec.from_config({**SECTION, "factory": "torch.nn:Identity"})),
        torch.nn.Identity,
    )
    mlp = {"factory": "enfopath.models.networks:VelocityMLP"}
    kwargs = {"shape": [1, 8, 8], "hidden": 8, "depth": 1, "time_features": 4}
    assert build_network(PluginSpec.from_config({**SECTION, **mlp, "kwargs": kwargs}))
    from enfopath.user_code import check_factory

    check_factory(torch.hub.load, "torch.hub:load", "key", torch.nn.Module, trusted=("torch",))
    with pytest.raises(ConfigError, match="trusted_packages"):
        validate_config(plugin_config({**SECTION, "trusted_packages": ["not a name"]}))


def test_the_network_output_is_checked_before_any_cast(user_module):
    """An integer velocity would pass cast to float by the adapter; a velocity on another
    device ends in a message that names the key, not in a raw meta-tensor error."""
    cpu = torch.device("cpu")
    integer = {**SECTION, "factory": "tiny_user_flow:IntegerVelocity", "kwargs": {}}
    integer = PluginSpec.from_config(integer)
    with pytest.raises(PluginError, match=r"flow\.plugin\.factory: .*dtype torch\.int64"):
        check_network(integer, build_network(integer), None, cpu)

    class Meta(torch.nn.Module):
        def forward(self, x, s):
            return torch.empty(x.shape, device="meta")

    spec = PluginSpec.from_config(SECTION)
    with pytest.raises(PluginError, match=r"flow\.plugin\.factory: .*on meta; x is on cpu"):
        check_network(spec, Meta(), None, cpu)

    class Infinite(torch.nn.Module):
        def forward(self, x, s):
            return x / 0.0

    with pytest.raises(PluginError, match=r"flow\.plugin\.factory: .*non-finite velocity"):
        check_network(spec, Infinite(), None, cpu)


def test_the_state_and_the_images_must_have_the_data_sets_shape(user_module):
    cpu, digits = torch.device("cpu"), (1, 8, 8)
    spec = PluginSpec.from_config(SECTION)
    network = build_network(spec)
    check_network(spec, network, None, cpu, digits)
    small = PluginSpec.from_config({**SECTION, "shape": [1, 4, 16]})
    with pytest.raises(PluginError, match=r"flow\.plugin\.shape: .*\[1, 4, 16\].*\[1, 8, 8\]"):
        check_network(small, network, None, cpu, digits)
    upsampled = PluginSpec.from_config({**SECTION, "decoder": "tiny_user_flow:upsample"})
    with pytest.raises(PluginError, match=r"flow\.plugin\.decoder: .*\[1, 16, 16\].*\[1, 8, 8\]"):
        check_network(upsampled, network, build_decoder(upsampled), cpu, digits)
    check_network(upsampled, network, build_decoder(upsampled), cpu, (1, 16, 16))
    nan = PluginSpec.from_config({**SECTION, "decoder": "tiny_user_flow:nan_decoder"})
    with pytest.raises(PluginError, match=r"flow\.plugin\.decoder: .*not finite"):
        check_network(nan, network, build_decoder(nan), cpu, digits)


def test_an_unreadable_checkpoint_is_the_files_fault_a_missing_key_the_configs(
    user_module, tmp_path
):
    """Only a file that cannot be read as a weights-only checkpoint is a corrupt file (deleted,
    when it is an unpinned download); a wrong key or architecture is the config's."""
    network = build_network(PluginSpec.from_config(SECTION))
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"<html>not found</html>")
    with pytest.raises(CorruptFileError, match="not a weights-only torch checkpoint"):
        load_weights(network, str(garbage), None)
    good = tmp_path / "good.pt"
    torch.save({"ema": network.state_dict()}, good)
    with pytest.raises(PluginError, match="no entry 'model'") as err:
        load_weights(network, str(good), "model")
    assert not isinstance(err.value, CorruptFileError)


@pytest.mark.workflow
def test_a_study_file_naming_a_shell_command_stops_before_any_job(tmp_path):
    """``flow.plugin: {factory: os:system, kwargs: {command: ...}}`` ran the command; now the
    DAG is not even built, and nothing runs or is written."""
    marker = tmp_path / "ran"
    section = {**SECTION, "factory": "os:system", "kwargs": {"command": f"touch {marker}"}}
    write_config(tmp_path / "config.yaml", plugin_config(section))
    run = snakemake(tmp_path, "--cores", "1")
    assert run.returncode != 0
    assert "'flow.plugin.factory': 'os:system' names the standard library" in run.stderr
    assert not marker.exists() and not (tmp_path / "results").exists()


def test_a_factory_module_changed_since_the_checkpoint_was_built_is_named(user_module):
    """The study's checkpoint records the sha256 of the factory's module; a job that rebuilds
    the network from an edited module (a changed forward, the same weights' shapes) stops."""
    import dataclasses

    from enfopath.models.plugin import module_sources

    spec = PluginSpec.from_config(SECTION)
    build_network(spec)
    recorded = dataclasses.replace(spec, sources=module_sources(spec))
    assert set(recorded.sources) == {"tiny_user_flow"}
    rebuilt = PluginSpec.from_config(recorded.to_config())  # as every job reads it back
    build_network(rebuilt)
    source = user_module / "tiny_user_flow.py"
    source.write_text(source.read_text().replace("s[:, None]", "-s[:, None]"))
    with pytest.raises(
        PluginError, match=r"tiny_user_flow\.py changed since .*forcerun plugin_flow"
    ):
        build_network(rebuilt)
