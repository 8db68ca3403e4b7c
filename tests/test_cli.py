"""The command line (``enfopath kpe``) and ``EnergyResult.to_dataframe``: a study's per-sample
numbers without Snakemake, checked against the shared tiny study's ``samples.parquet``."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import ROOT, TINY, local_env

from enfopath import sample_with_energy
from enfopath.cli import OPTIONS, main
from enfopath.io import read_record, sha256
from enfopath.models.flows import Flow
from enfopath.models.networks import build_model
from enfopath.per_sample import ENERGY_ARRAYS
from enfopath.study.config import schema, validate_config
from enfopath.study.shards import SamplingConfig, batch_problem

CPU = torch.device("cpu")


def checkpoint(study: Path) -> Path:
    return study / "results" / TINY["experiment"] / "models" / "flow.pt"


def study_table(study: Path) -> pd.DataFrame:
    path = study / "results" / TINY["experiment"] / "samples.parquet"
    return pd.read_parquet(path).sort_values("sample").reset_index(drop=True)


def test_to_dataframe_holds_the_studys_columns_with_its_values(study):
    """The study's second batch integrated again through the library: every column of
    ``to_dataframe`` is a column of ``samples.parquet`` with the same name and the same bits."""
    cfg = validate_config(copy.deepcopy(TINY))
    payload = torch.load(checkpoint(study), weights_only=True)
    model = build_model(payload["model"], payload["arch"])
    model.load_state_dict(payload["state_dict"])
    flow = Flow.from_checkpoint(model.eval(), payload["model"], payload["arch"])
    sampling = SamplingConfig.from_config(cfg["sampling"])
    batch = range(sampling.batch_size, 2 * sampling.batch_size)
    x0, velocity = batch_problem(flow, cfg["seed"], batch, CPU)
    with torch.no_grad():
        frame = sample_with_energy(velocity, x0, **sampling.flow_kwargs(flow)).to_dataframe(
            batch.start
        )
    table = study_table(study)
    assert len(frame) == len(batch) and frame["sample"].tolist() == list(batch)
    assert list(frame.columns) == [c for c in table.columns if c in set(frame.columns)]
    assert {"kpe", "x0_norm_sq", "straightness", "kpe_t1.000", "nfe_t0.500"} <= set(frame.columns)
    rows = table[table["sample"].isin(list(batch))].reset_index(drop=True)
    pd.testing.assert_frame_equal(frame, rows[list(frame.columns)], check_exact=True)


def kpe_command(study: Path, out: Path) -> list[str]:
    """``enfopath kpe`` on the tiny study's own flow (our MLP class, a network class any study
    may name), with every sampling option of the command set to the study's value (read through
    the command's own option table) and its seed."""
    payload = torch.load(checkpoint(study), weights_only=True)
    arch = payload["arch"]
    sampling = validate_config(copy.deepcopy(TINY))["sampling"]
    options = {
        "--factory": "enfopath.models.networks:VelocityMLP",
        "--kwargs": json.dumps(arch),
        "--shape": ",".join(map(str, arch["shape"])),
        "--checkpoint": str(checkpoint(study)),
        "--key": "state_dict",
        "--sha256": sha256(checkpoint(study)),
        "--seed": str(TINY["seed"]),
        "--device": "cpu",
        "-o": str(out),
    }
    for option, key in OPTIONS.items():
        section, _, name = key.partition(".")
        if section == "sampling":
            options[option] = str(sampling[name])
    return ["kpe", *(part for pair in options.items() for part in pair)]


def test_the_console_script_gives_the_studys_numbers_bit_for_bit(study, tmp_path):
    out = tmp_path / "kpe.parquet"
    script = Path(sys.executable).with_name("enfopath")  # pyproject's [project.scripts]
    run = subprocess.run(
        [str(script), *kpe_command(study, out)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=local_env(),
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    n = TINY["sampling"]["n_samples"]
    assert f"enfopath kpe: {n}/{n} samples" in run.stderr  # plain progress lines off a terminal
    frame = pd.read_parquet(out)
    table = study_table(study)
    assert len(frame) == n and "label" not in frame
    assert list(frame.columns) == [c for c in table.columns if c in set(frame.columns)]
    pd.testing.assert_frame_equal(frame, table[list(frame.columns)], check_exact=True)
    record = read_record(out)  # the checksum record beside it says how it was made
    assert record.sha256 == sha256(out)
    assert record.identity["seed"] == TINY["seed"]
    assert record.identity["sampling"]["batch_size"] == TINY["sampling"]["batch_size"]


def test_python_m_enfopath_is_the_same_command(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "enfopath", "kpe", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=local_env(),
    )
    assert run.returncode == 0, run.stderr
    for option in OPTIONS:
        assert option in run.stdout
    text = " ".join(run.stdout.split())
    assert "[default: 1e-05] (sampling.rtol)" in text  # the schema's default and its key


def test_every_option_is_a_config_key_of_the_schema():
    root = schema()
    for option, key in OPTIONS.items():
        node = root
        for part in key.split("."):
            assert part in node["properties"], (option, key)
            node = node["properties"][part]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"--rtol": "0"}, ["invalid --rtol: 0.0 is less than the minimum of 1e-09"]),
        ({"-n": "0", "--steps": "0"}, ["2 errors", "invalid -n", "invalid --steps"]),
        ({"--factory": "os:system"}, ["invalid --factory", "standard library module 'os'"]),
        ({"--factory": "enfopath.models.networks:nope"}, ["--factory", "no attribute 'nope'"]),
        ({"--sha256": "0" * 64}, ["--checkpoint", "not the --sha256 given", "0" * 64]),
        ({"--key": "ema"}, ["--key", "'ema'"]),
        ({"--shape": "1,4,4"}, ["--shape", "[1, 4, 4]"]),
        ({"--guidance-scale": "2"}, ["--guidance-scale guides a class-conditional model"]),
        ({"--grid": "shifted", "--solver": "euler"}, ["--grid shifted", "has none"]),
        ({"--grid": "energy", "--solver": "euler"}, ["--grid energy", "study's calibration"]),
        ({"-o": "kpe.txt"}, ["-o", ".parquet or .csv"]),
    ],
)
def test_a_bad_argument_is_named_by_its_option_and_nothing_is_written(
    study, tmp_path, capsys, change, expected
):
    out = tmp_path / "kpe.parquet"
    argv = kpe_command(study, out)
    for option, value in change.items():
        if option in argv:
            argv[argv.index(option) + 1] = value
        else:
            argv[1:1] = [option, value]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("enfopath kpe: error: "), err
    for text in expected:
        assert text in err, (text, err)
    assert "flow.plugin" not in err and "sampling." not in err  # options, not config keys
    assert not list(tmp_path.iterdir())


def test_a_class_conditional_flow_gets_each_samples_label_from_its_seed(tmp_path, capsys):
    """An x_t_y network: the label column is the study's label of each sample (its own seed)."""
    from enfopath.seeding import sample_labels

    out = tmp_path / "kpe.csv"
    argv = [
        "kpe",
        "--factory",
        "enfopath.models.sit:SiT",
        "--kwargs",
        json.dumps(
            {"input_size": 4, "patch_size": 2, "in_channels": 2, "hidden_size": 16, "depth": 1}
            | {"num_heads": 2, "num_classes": 3, "learn_sigma": False}
        ),
        "--convention",
        "x_t_y",
        "--num-classes",
        "3",
        "--guidance-scale",
        "1.5",
        "--shape",
        "2,4,4",
        "-n",
        "8",
        "--batch-size",
        "4",
        "--solver",
        "euler",
        "--steps",
        "3",
        "--seed",
        "5",
        "--device",
        "cpu",
        "-o",
        str(out),
    ]
    assert main(argv) == 0, capsys.readouterr().err
    frame = pd.read_csv(out)
    assert frame["label"].tolist() == sample_labels(5, range(8), 3).tolist()
    assert frame["nfe"].eq(3).all()  # the guided velocity: one evaluation per step
    assert read_record(out).identity["guidance"]["scale"] == 1.5
    argv[argv.index("--guidance-scale") + 1] = "1"
    unguided = tmp_path / "unguided.csv"
    argv[-1] = str(unguided)
    assert main(argv) == 0, capsys.readouterr().err
    assert not (pd.read_csv(unguided)["kpe"] == frame["kpe"]).any()  # the scale reached the flow


def test_the_columns_read_are_the_arrays_a_result_gives():
    res = sample_with_energy(lambda t, x: -x, torch.randn(3, 2), solver="euler", steps=2)
    assert set(res.to_numpy()) == set(ENERGY_ARRAYS)
