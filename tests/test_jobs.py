"""Each job's config keys, declared once (enfopath/study/jobs.py): the slice, the reading, the
rules that use it, and the scripts that read through it."""

from __future__ import annotations

import copy
import json
import pickle
import re

import pytest
from conftest import ROOT, SHIPPED_STUDIES, shipped_study_files

from enfopath.study.config import is_text_to_image, load_config, needed_models
from enfopath.study.jobs import (
    JOB_KEYS,
    JobConfig,
    Keys,
    UndeclaredKeyError,
    config_slice,
    declared,
    job_config,
)

RULE = re.compile(r"^\s*rule (\w+):", re.M)


def rule_blocks() -> dict[str, str]:
    """Each rule's text in rules/*.smk, by name."""
    blocks = {}
    for smk in sorted((ROOT / "rules").glob("*.smk")):
        text = smk.read_text()
        starts = [(m.start(), m[1]) for m in RULE.finditer(text)]
        ends = [start for start, _ in starts[1:]] + [len(text)]
        for (start, name), end in zip(starts, ends[: len(starts)], strict=True):
            blocks[name] = text[start:end]
    return blocks


def test_a_slice_holds_the_declared_keys_less_those_without():
    config = {"a": {"b": 1, "c": {"d": 2, "e": 3}}, "f": [1, 2], "g": 4}
    keys = Keys(("a.c", "f"), without=("a.c.e",))
    assert config_slice(config, keys) == {"a": {"c": {"d": 2}}, "f": [1, 2]}
    assert config["a"]["c"] == {"d": 2, "e": 3}  # the config is not touched


def test_a_declared_key_the_config_lacks_names_the_rule_and_the_key():
    with pytest.raises(KeyError, match=r"rule merge_samples declares the config key 'a\.x'"):
        config_slice({"a": {"b": 1}}, Keys(("a.x",)), "merge_samples")
    with pytest.raises(ValueError, match="not a dotted config key"):
        Keys(("a..b",))


def test_reading_an_undeclared_key_stops_the_job_naming_rule_key_and_module():
    cfg = JobConfig({"sampling": {"solver": "euler"}}, "generate_shard")
    with pytest.raises(UndeclaredKeyError) as err:
        cfg["sampling"]["steps"]
    message = str(err.value)
    assert "rule generate_shard" in message and "'sampling.steps'" in message
    assert "enfopath/study/jobs.py" in message
    assert isinstance(err.value, KeyError)  # code that asks for a key it may lack still works


def test_every_way_of_reading_records_the_leaves_read():
    data = {"s": {"a": 1, "b": [1, 2], "c": {"d": None}}, "t": 2, "u": {}}
    cfg = JobConfig(data, "r")
    assert cfg.unread() == ["s.a", "s.b", "s.c.d", "t", "u"]
    assert "t" in cfg and cfg.unread()[-2:] == ["t", "u"]  # presence is not a read
    assert cfg["s"]["a"] == 1 and cfg.get("t") == 2 and cfg.get("x", 5) == 5
    assert cfg.unread() == ["s.b", "s.c.d", "u"]
    listed = cfg["s"]["b"]
    listed.append(3)  # a copy: the slice is unchanged
    assert cfg["s"]["b"] == [1, 2] and cfg.unread() == ["s.c.d", "u"]
    assert dict(cfg["s"]["c"].items()) == {"d": None} and cfg.unread() == ["u"]
    for read_all, left in (
        (json.dumps, []),
        (copy.deepcopy, []),
        (lambda c: pickle.loads(pickle.dumps(c)), []),
        (lambda c: dict(c["s"]), ["s.c.d", "t", "u"]),  # a section got is not yet its leaves
    ):
        fresh = JobConfig(data, "r")
        read_all(fresh)
        assert fresh.unread() == left
    stored = pickle.loads(pickle.dumps(JobConfig(data, "r")))  # as torch.save stores it
    assert type(stored) is dict and type(stored["s"]) is dict and stored == data


@pytest.mark.parametrize("study", [None, *SHIPPED_STUDIES])
def test_every_shipped_study_builds_every_jobs_slice(study, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "examples" / "own_model"))
    config = load_config(*(shipped_study_files(study) if study else [ROOT / "config.yaml"]))
    wildcards = {"shard": "0", "space": "pixels", "name": "kpe_hist", "replicate": "1"}
    for rule, entry in JOB_KEYS.items():
        names = entry.__code__.co_varnames[1 : entry.__code__.co_argcount]
        calls = [{}]
        if "asset" in names:
            calls = [{"asset": "data"}, {"asset": "flow"}]
        if "hub" in names:
            calls = [{"hub": "clip"}, {"hub": "vae"}]
        for extra in calls:
            wc = {k: v for k, v in {**wildcards, **extra}.items() if k in names}
            flow = config["flow"]["pretrained"] or config["flow"]["plugin"] or {}
            fetched = {"data": config["data"].get("source"), "flow": flow.get("checkpoint")}
            if rule == "fetch_asset" and not fetched[wc["asset"]]:
                continue  # no such job in this study
            if rule == "fetch_hub" and wc["hub"] not in needed_models(config):
                continue
            if rule in ("pipeline", "encode_prompts") and not is_text_to_image(config):
                continue
            part = job_config(rule, config, wc)
            assert part == json.loads(json.dumps(part, sort_keys=True)), rule
            assert declared(rule, config, wc).keys, rule


def test_each_rule_takes_its_slice_from_its_own_entry_and_its_script_reads_through_it():
    blocks = rule_blocks()
    with_config = set()
    for name, block in blocks.items():
        params = re.findall(r"config=job_params\(\"(\w+)\"\)", block)
        assert "config_slice" not in block, name
        script = re.search(r'"\.\./workflow_scripts/(\w+\.py)"', block)
        text = (ROOT / "workflow_scripts" / script[1]).read_text() if script else ""
        if params:
            assert params == [name], f"rule {name} takes the slice of {params}"
            assert "job_config(sm)" in text, f"{script[1]} does not read its slice (rule {name})"
            with_config.add(name)
        assert "params.config" not in text, script[1] if script else name
    assert with_config == set(JOB_KEYS), set(JOB_KEYS) ^ with_config
    assert "config_slice" not in (ROOT / "rules" / "common.smk").read_text()


def test_the_schemas_density_spaces_are_the_declared_spaces():
    from enfopath.columns import SPACE_MODEL, SPACES
    from enfopath.study.config import schema

    spaces = schema()["properties"]["density"]["properties"]["spaces"]["items"]["enum"]
    assert tuple(spaces) == SPACES == tuple(SPACE_MODEL)


def test_a_key_left_out_under_a_null_section_is_nothing_to_leave_out():
    config = {"flow": {"plugin": None, "model": "mlp"}}
    keys = Keys(("flow",), without=("flow.plugin.checkpoint", "flow.absent"))
    assert config_slice(config, keys) == {"flow": {"model": "mlp", "plugin": None}}
