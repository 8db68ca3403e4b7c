"""The config schema: defaults, and bad input named by its key."""

from __future__ import annotations

import pytest
import yaml
from conftest import ROOT, SHIPPED_STUDIES, shipped_study_files

from enfopath.study.config import ConfigError, load_config, n_shards, validate_config


def test_default_config_is_valid_and_complete():
    cfg = load_config(ROOT / "config.yaml")
    assert cfg["sampling"]["n_samples"] >= 4096
    assert n_shards(cfg) * cfg["sampling"]["shard_size"] == cfg["sampling"]["n_samples"]
    filled = validate_config({"experiment": "x"})
    assert filled == {**cfg, "experiment": "x"}  # config.yaml states every default


def test_a_smaller_study_than_the_default_shard_is_told_the_shard_size_that_fits():
    with pytest.raises(ConfigError, match=r"2048 does not divide .* = 1024 .* e\.g\. 1024"):
        validate_config({"experiment": "x", "sampling": {"n_samples": 1024}})
    validate_config({"experiment": "x", "sampling": {"n_samples": 1024, "shard_size": 1024}})


@pytest.mark.parametrize(
    ("patch", "key"),
    [
        ({"sampling": {"solver": "rk45"}}, "sampling.solver"),
        ({"sampling": {"steps": -5}}, "sampling.steps"),
        ({"sampling": {"shard_size": 1000}}, "sampling.shard_size"),
        (
            {"sampling": {"n_samples": 64, "shard_size": 64, "batch_size": 48}},
            "sampling.batch_size",
        ),
        ({"sampling": {"tau": 1.5}}, "sampling.tau"),
        ({"schedules": {"grids": ["uniform", "shifted"]}}, "schedules.grids"),
        ({"sampling": {"bogus": 1}}, "sampling.bogus"),
        ({"bogus": 1}, "bogus"),
        ({"density": {"spaces": ["dinov2"]}}, "density.spaces.0"),
        ({"data": {"dataset": "cifar10"}}, "data.source"),
        (
            {"data": {"dataset": "cifar10", "source": {"url": "http://h/u", "path": "p"}}},
            "data.source",
        ),
        (
            {"data": {"dataset": "cifar10", "source": {"url": "http://h/u", "md5": "x"}}},
            "data.source.md5",
        ),
        ({"data": {"dataset": "image_folder"}}, "data.folder"),
        ({"data": {"dataset": "image_folder", "folder": "/d"}}, "flow.pretrained"),
        ({"density": {"spaces": ["latent"]}}, "density.spaces"),
        ({"flow": {"pretrained": {"model": "sit", "arch": {}}}}, "flow.pretrained"),
        (
            {"flow": {"pretrained": {"model": "sit", "arch": {}, "checkpoint": {}}}},
            "flow.pretrained.checkpoint",
        ),
        ({"semantics": {"method": "inception"}}, "semantics.method"),
        ({"data": {"class_names": "imagenet"}}, "data.class_names"),
        ({"data": {"source": {"url": "http://h/u"}}}, "data.source"),
        ({"clip": {"template": "no placeholder"}}, "clip.template"),
        ({"sampling": {"precision": "fp16"}}, "sampling.precision"),
        ({"experiment": "a/b"}, "experiment"),
        ({"experiment": ".."}, "experiment"),
        ({"experiment": "."}, "experiment"),
        ({"experiment": ".hidden"}, "experiment"),
        ({"experiment": "-x"}, "experiment"),
        ({"flow": {"lr": float("nan")}}, "flow.lr"),
        ({"sampling": {"tau": float("inf")}}, "sampling.tau"),
        ({"density": {"k": [5, float("-inf")]}}, "density.k.1"),
        ({"sampling": {"rtol": "nan"}}, "sampling.rtol"),
        ({"sampling": {"n_samples": 128.5}}, "sampling.n_samples"),
        ({"sampling": {"rtol": "small"}}, "sampling.rtol"),
        ({"density": {"spaces": ["classifier"]}}, "statistics.memorization"),
        ({"robustness": {"settings": [{"solver": "rk4"}]}}, "robustness.settings.0"),
        ({"robustness": {"settings": []}}, "robustness.settings"),
        ({"robustness": {"reference": {"solver": "dopri5", "rtol": 1e-7}}}, "robustness.reference"),
        (
            {"robustness": {"settings": [{"solver": "euler", "steps": 5, "atol": 1e-3}]}},
            "robustness.settings.0",
        ),
        ({"robustness": {"stable_overlap": 1.5}}, "robustness.stable_overlap"),
        (
            {"data": {"dataset": "cifar10", "source": {"url": "file:///d/c.tgz", "md5": "0" * 32}}},
            "data.source.url",
        ),
    ],
)
def test_bad_config_names_the_key(patch, key):
    cfg = {"experiment": "x"}
    for section, value in patch.items():
        cfg[section] = value
    with pytest.raises(ConfigError, match=f"'{key}'"):
        validate_config(cfg)


def test_unreadable_config_names_the_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match=str(path)):
        load_config(path)
    path.write_text(yaml.safe_dump({"seed": 1}))
    with pytest.raises(ConfigError, match="experiment"):
        load_config(path)


def test_yaml_loose_numbers_are_read_as_the_schema_asks():
    """128.0 at an integer key and '1e-5' (YAML 1.1 reads an exponent without a dot as text) at
    a number key are taken as the numbers meant."""
    raw = yaml.safe_load(
        "experiment: x\nsampling: {n_samples: 128.0, shard_size: 64, batch_size: 32.0,"
        " rtol: 1e-5, atol: '2E-6'}\n"
    )
    assert raw["sampling"]["rtol"] == "1e-5"  # what YAML gives
    s = validate_config(raw)["sampling"]
    assert (s["n_samples"], s["batch_size"]) == (128, 32)
    assert type(s["n_samples"]) is int and type(s["batch_size"]) is int
    assert (s["rtol"], s["atol"]) == (1e-5, 2e-6)


def test_non_numbers_are_refused_with_how_to_write_them():
    with pytest.raises(ConfigError, match=r"'sampling.steps': 2.5 is not an integer \(write"):
        validate_config({"experiment": "x", "sampling": {"steps": 2.5}})
    with pytest.raises(ConfigError, match=r"'flow.lr': 'fast' is not a number \(write"):
        validate_config({"experiment": "x", "flow": {"lr": "fast"}})


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("experiment: x\nsampling:\n  n_samples: [1, 2\n", r"c.yaml:4:1: YAML syntax error"),
        ("experiment: x\n\tseed: 1\n", r"c.yaml:2:1: YAML syntax error"),
        ("", r"c.yaml: the config file is empty"),
        ("# only a comment\n", r"c.yaml: the config file is empty"),
        ("- a\n- list\n", r"c.yaml: a config must be a mapping of keys, not a list"),
    ],
)
def test_unreadable_config_names_file_and_line(tmp_path, text, match):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_config(path)


def test_config_check_command_merges_like_snakemake(tmp_path):
    """``python -m enfopath.study.config FILE`` reads config.yaml then FILE, as --configfile does
    (Snakemake's merge)."""
    import subprocess
    import sys

    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("experiment: mine\nsampling: {n_samples: 2048.0}\n")
    bad.write_text("experiment: mine\nsampling:\n  rtol: [\n")
    run = [sys.executable, "-m", "enfopath.study.config"]
    ok = subprocess.run([*run, str(good)], cwd=ROOT, capture_output=True, text=True)
    assert ok.returncode == 0 and "config.yaml + " in ok.stdout and "experiment mine" in ok.stdout
    err = subprocess.run([*run, str(bad)], cwd=ROOT, capture_output=True, text=True)
    assert err.returncode == 1 and f"{bad}:4:1: YAML syntax error" in err.stderr


def test_the_check_names_every_bad_key_at_once_and_warns_of_the_default_folder(tmp_path):
    """``make check`` reported only the first error, and passed a study file without
    ``experiment`` that would write into the default study's folder."""
    import subprocess
    import sys

    bad, unnamed = tmp_path / "bad.yaml", tmp_path / "unnamed.yaml"
    bad.write_text("experiment: mine\nsampling: {steps: -3, solver: bogus}\nnot_a_key: 1\n")
    unnamed.write_text("sampling: {steps: 20}\n")
    run = [sys.executable, "-m", "enfopath.study.config"]
    err = subprocess.run([*run, str(bad)], cwd=ROOT, capture_output=True, text=True)
    assert err.returncode == 1 and "3 config errors:" in err.stderr
    for said in ("'sampling.steps': -3", "'sampling.solver': 'bogus'", "'not_a_key'"):
        assert said in err.stderr, said
    with pytest.raises(ConfigError, match=r"^invalid config key 'sampling.steps'"):
        validate_config({"experiment": "x", "sampling": {"steps": -3}})  # one: as before
    warned = subprocess.run([*run, str(unnamed)], cwd=ROOT, capture_output=True, text=True)
    assert warned.returncode == 0
    assert "sets no `experiment:`" in warned.stderr
    assert "results/digits_default/, the folder of config.yaml's study" in warned.stderr
    named = subprocess.run([*run, "configs/digits_ladder.yaml"], cwd=ROOT, capture_output=True)
    assert named.returncode == 0 and b"warning" not in named.stderr


def test_robustness_settings_say_how_to_write_them_and_a_small_study_reintegrates_all():
    with pytest.raises(ConfigError, match="A fixed-grid solver takes steps, not rtol or atol"):
        validate_config(
            {
                "experiment": "x",
                "robustness": {"settings": [{"solver": "heun", "steps": 5, "rtol": 1e-3}]},
            }
        )
    cfg = validate_config({"experiment": "x", "sampling": {"n_samples": 512, "shard_size": 512}})
    assert cfg["robustness"]["n_samples"] == 512  # the default 1,024 lowered to the study's
    settings = validate_config({"experiment": "x"})["robustness"]["settings"]
    assert {"solver": "dopri5", "rtol": 1e-3, "atol": 1e-3} in settings and len(settings) == 8
    cfg = validate_config(
        {
            "experiment": "x",
            "density": {"spaces": ["classifier"]},
            "statistics": {"memorization": False},
        }
    )
    assert not cfg["statistics"]["memorization"]


@pytest.mark.parametrize("study", SHIPPED_STUDIES)
def test_every_shipped_study_config_is_valid_over_config_yaml(study, monkeypatch):
    """Each file of configs/ (:func:`shipped_study_files`; the own-model example needs its
    folder on the path, as the README runs it)."""
    monkeypatch.syspath_prepend(str(ROOT / "examples" / "own_model"))
    config = load_config(*shipped_study_files(study))
    if study.startswith("digits_empirical_eps"):
        assert config["flow"]["model"] == "empirical"
    assert config["experiment"] != "digits_default"


def test_too_few_samples_for_the_statistics_are_refused_naming_the_minimum(tiny_config):
    """n_samples = shard_size = batch_size = 1 passed the schema and crashed the statistics in
    pandas.qcut; now the config check states the minimum: statistics.bins bins, and KPE bands
    larger than max(density.k) for the PRDC stage."""
    tiny_config["sampling"].update(n_samples=1, shard_size=1, batch_size=1)
    with pytest.raises(
        ConfigError, match=r"'sampling\.n_samples': 1 .*at least 16 .*density\.k\) = 3"
    ):
        validate_config(tiny_config)
    tiny_config["sampling"].update(n_samples=16, shard_size=16, batch_size=16)
    validate_config(tiny_config)  # the minimum itself
    tiny_config["sampling"].update(n_samples=8, shard_size=8, batch_size=8)
    tiny_config["statistics"] = {"prdc": False, "fidelity": False}
    with pytest.raises(
        ConfigError, match=r"at least 10 \(one per quantile bin, statistics\.bins = 10\)"
    ):
        validate_config(tiny_config)


def test_the_frechet_stage_needs_two_samples_in_every_band(tiny_config):
    tiny_config["statistics"] = {"prdc": False, "bins": 2}
    tiny_config["sampling"].update(n_samples=4, shard_size=4, batch_size=4)
    with pytest.raises(ConfigError, match=r"at least 6 \(statistics\.fidelity: .*2 samples"):
        validate_config(tiny_config)
    tiny_config["sampling"].update(n_samples=6, shard_size=6, batch_size=6)
    validate_config(tiny_config)
    tiny_config["statistics"]["fidelity"] = False
    tiny_config["sampling"].update(n_samples=4, shard_size=4, batch_size=4)
    validate_config(tiny_config)


def test_the_band_sizes_the_config_check_counts_are_the_prdc_stages():
    import numpy as np
    import pandas as pd

    from enfopath.measures.bands import band_sizes
    from enfopath.measures.prdc import kpe_bands

    rng = np.random.default_rng(0)
    for q in (0.05, 0.2, 1 / 3, 0.4, 0.49):
        for n in (2, 5, 16, 17, 101, 333):
            bands = kpe_bands(pd.Series(rng.permutation(n) ** 1.5 - 7.0), q)
            counts = tuple(int((bands == b).sum()) for b in ("low", "middle", "high"))
            assert band_sizes(n, q) == counts, (q, n)


def test_quantile_bins_of_too_few_samples_name_the_key():
    import pandas as pd

    from enfopath.measures.groups import quantile_bins

    assert quantile_bins(pd.Series([3.0, 1.0, 2.0]), 3).tolist() == [3, 1, 2]
    with pytest.raises(ValueError, match=r"2 analysed samples cannot fill statistics\.bins = 3"):
        quantile_bins(pd.Series([1.0, 2.0]), 3)


def test_tolerances_below_the_float32_floor_are_refused(tiny_config):
    import torch

    from enfopath.energy import MIN_TOLERANCE

    tiny_config["sampling"]["rtol"] = MIN_TOLERANCE[torch.float32]
    validate_config(tiny_config)
    tiny_config["sampling"]["rtol"] = 1e-300
    with pytest.raises(ConfigError, match=r"'sampling\.rtol'"):
        validate_config(tiny_config)


T2I_STUDY = "configs/t2i_tiny.yaml"


def t2i_study(patch: dict) -> dict:
    """The shipped tiny text-to-image study (its prompt file found from anywhere), patched."""
    from enfopath.study.config import merge, read_config

    config = read_config(ROOT / T2I_STUDY)
    config["prompts"]["file"] = str(ROOT / config["prompts"]["file"])
    return merge(config, patch)


@pytest.mark.parametrize(
    ("patch", "key", "why"),
    [
        ({"data": {"dataset": "sklearn_digits"}}, "data.dataset", "samples a prompt set"),
        ({"flow": {"diffusers": None}}, "data.dataset", "sampled by a flow.diffusers"),
        ({"flow": {"diffusers": {"source": "a/b"}}}, "flow.diffusers", "exactly one of"),
        ({"flow": {"diffusers": {"tiny": None}}}, "flow.diffusers", "exactly one of"),
        ({"flow": {"model": "empirical"}}, "flow.model", "drop pretrained / plugin / diffusers"),
        (
            {"flow": {"diffusers": {"tiny": "flux-schnell"}}},
            "flow.diffusers.guidance",
            "no guidance",
        ),
        ({"prompts": {"samples_per_prompt": 3}}, "sampling.n_samples", "100 prompts × "),
        ({"prompts": {"file": None}}, "prompts.file", "needs its prompt file"),
        ({"prompts": {"file": "no/such.txt"}}, "prompts.file", "no such prompt file"),
        ({"semantics": {"method": "classifier"}}, "semantics.method", "CLIP against its"),
        ({"density": {"spaces": ["clip", "classifier"]}}, "density.spaces", "['classifier']"),
        ({"density": {"reference": "data"}}, "density.reference", "data.folder"),
        ({"statistics": {"memorization": True}}, "statistics.memorization", "reference"),
        ({"statistics": {"prdc": True}}, "statistics.prdc", "reference set"),
        ({"statistics": {"fidelity": True}}, "statistics.fidelity", "reference set"),
        ({"robustness": {"enabled": True}}, "robustness.enabled", "not a pipeline"),
        ({"early_rejection": {"enabled": True}}, "early_rejection.enabled", "not a pipeline"),
        ({"replicates": {"flow_seeds": [1]}}, "replicates.flow_seeds", "diffusers"),
        (
            {"data": {"folder": "/d"}, "density": {"reference": "data"}},
            "data.image_size",
            "flow.diffusers.resolution = 64",
        ),
    ],
)
def test_a_text_to_image_study_refuses_what_it_cannot_do_and_says_why(patch, key, why):
    config = t2i_study(patch)
    with pytest.raises(ConfigError, match=f"'{key}'") as err:
        validate_config(config)
    assert why in str(err.value)


def test_a_bad_prompt_file_is_named_by_its_line_when_the_config_is_checked(tmp_path):
    prompts = tmp_path / "p.txt"
    prompts.write_text("a cat\na dog\na cat\n")
    config = t2i_study({"prompts": {"file": str(prompts)}})
    with pytest.raises(ConfigError, match="line 3 repeats the prompt of line 1"):
        validate_config(config)


@pytest.mark.parametrize(
    ("patch", "key"),
    [
        ({"sampling": {"grid": "shifted"}}, "sampling.grid"),
        ({"density": {"reference": "samples"}}, "density.reference"),
    ],
)
def test_what_only_a_text_to_image_study_has_is_refused_elsewhere(patch, key):
    from enfopath.study.config import merge, read_config

    with pytest.raises(ConfigError, match=f"'{key}'"):
        validate_config(merge(read_config(ROOT / "config.yaml"), patch))


def test_a_target_of_another_study_is_answered_with_its_study_file(tmp_path):
    from enfopath.study.config import other_study_hint

    (tmp_path / "a.yaml").write_text("experiment: other\n")
    (tmp_path / "b.yaml").write_text("experiment: third\n")
    (tmp_path / "bad.yaml").write_text("experiment: [\n")  # unreadable: skipped, never fatal
    files = [tmp_path / n for n in ("a.yaml", "b.yaml", "bad.yaml")]
    assert other_study_hint(["results/mine/figures/x.png", "all"], "mine", files) is None
    hint = other_study_hint(["results/other/figures/x.png"], "mine", files)
    assert f"--configfile {tmp_path / 'a.yaml'}" in hint and "'mine'" in hint
    unknown = other_study_hint(["results/nobody/x.csv"], "mine", files)
    assert "<the study file with experiment: nobody>" in unknown
