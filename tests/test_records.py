"""What a file is, not only what its bytes are: each sidecar's record (name, place in the study,
identity, lineage), checked at every read, and a finished study verified against its inventory."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import copy_with_record

from enfopath.inventory import INVENTORY, main, verify_study, write_inventory
from enfopath.io import (
    CorruptFileError,
    begin_job,
    end_job,
    read_npz,
    read_record,
    sha256,
    sidecar,
    write_npz,
)


@pytest.fixture
def work(tmp_path, monkeypatch) -> Path:
    """A working directory with a results folder, as a workflow job sees it."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").mkdir()
    yield tmp_path
    end_job()


def job(rule: str, outputs: list[str], reads: list[str], writes: dict[str, int]) -> None:
    """One workflow job: it reads ``reads`` and writes each output of ``writes`` (a number)."""
    begin_job(rule, outputs)
    try:
        for path in reads:
            read_npz(path)
        for path, value in writes.items():
            write_npz(path, x=np.array([value]))
    finally:
        end_job()


def study(work: Path) -> None:
    """results/e: a.npz → b.npz and c.npz (one job) → d.npz, and its inventory."""
    job("make_a", ["results/e/a.npz"], [], {"results/e/a.npz": 1})
    bc = ["results/e/b.npz", "results/e/c.npz"]
    job("make_bc", bc, ["results/e/a.npz"], {p: 2 for p in bc})
    job("make_d", ["results/e/d.npz"], ["results/e/b.npz"], {"results/e/d.npz": 3})
    begin_job("inventory", ["results/e/inventory.json"])
    try:
        write_inventory("results/e/inventory.json", ["results/e/d.npz"])
    finally:
        end_job()


def test_the_record_keeps_sha256sum_working(work):
    """The record line is a comment to sha256sum: the by-hand check of the io docstring."""
    write_npz("results/e/a.npz", {"space": "pixels"}, x=np.arange(3))
    run = subprocess.run(
        ["sha256sum", "-c", "--strict", "a.npz.sha256"],
        cwd=work / "results/e",
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0 and run.stdout.strip() == "a.npz: OK", run.stderr
    record = read_record("results/e/a.npz")
    assert record.key == "e/a.npz" and record.identity == {"space": "pixels"}


def test_a_file_copied_over_another_with_its_record_is_named(work):
    write_npz("results/e/index/pixels_radii.npz", {"space": "pixels"}, x=np.arange(3))
    write_npz("results/e/index/classifier_radii.npz", {"space": "classifier"}, x=np.arange(4))
    copy_with_record("results/e/index/pixels_radii.npz", "results/e/index/classifier_radii.npz")
    with pytest.raises(CorruptFileError, match=r"written for a file named pixels_radii\.npz"):
        read_npz("results/e/index/classifier_radii.npz")


def test_a_file_copied_from_another_study_with_its_record_is_named(work):
    write_npz("results/one/index/pixels_radii.npz", x=np.arange(3))
    (work / "results/two/index").mkdir(parents=True)
    copy_with_record("results/one/index/pixels_radii.npz", "results/two/index/pixels_radii.npz")
    with pytest.raises(CorruptFileError, match=r"written as results/one/index/pixels_radii\.npz"):
        read_npz("results/two/index/pixels_radii.npz")
    shutil.copytree("results/one", "results/moved")  # a whole study moves with its records
    with pytest.raises(CorruptFileError, match="written as results/one"):
        read_npz("results/moved/index/pixels_radii.npz")
    shutil.move(work / "results", work / "elsewhere")  # the results folder itself may move
    assert read_npz(work / "elsewhere/one/index/pixels_radii.npz")["x"].tolist() == [0, 1, 2]


def test_an_expected_identity_is_checked(work):
    write_npz("results/e/index/r.npz", {"space": "pixels", "k": [5, 10]}, x=np.arange(3))
    read_npz("results/e/index/r.npz", expect={"space": "pixels", "k": [5, 10]})
    with pytest.raises(CorruptFileError, match="made for space 'pixels', read as space 'clip'"):
        read_npz("results/e/index/r.npz", expect={"space": "clip"})
    with pytest.raises(CorruptFileError, match=r"made for k \[5, 10\], read as k \[5\]"):
        read_npz("results/e/index/r.npz", expect={"k": [5]})
    with pytest.raises(CorruptFileError, match="its record says no shard"):
        read_npz("results/e/index/r.npz", expect={"shard": 0})


def test_an_earlier_versions_sidecar_is_still_read(work):
    """A sidecar of its sha256sum line alone (written before records) checks bytes and name."""
    write_npz("results/e/a.npz", x=np.arange(3))
    path = Path("results/e/a.npz")
    sidecar(path).write_text(f"{sha256(path)}  a.npz\n")
    assert read_npz(path)["x"].tolist() == [0, 1, 2]


def test_every_read_of_a_job_is_checked_against_the_others(work):
    """A file made from another version of a file the job also reads is refused, in either
    order of reading, and so are two files made from different versions of one input."""
    study(work)
    job("make_a", ["results/e/a.npz"], [], {"results/e/a.npz": 9})  # a rebuilt, b and c not
    for order in (["results/e/a.npz", "results/e/b.npz"], ["results/e/b.npz", "results/e/a.npz"]):
        with pytest.raises(CorruptFileError, match=r"results/e/b\.npz was made from results/e/a"):
            job("reader", [], order, {})
    job("make_c", ["results/e/c.npz"], ["results/e/a.npz"], {"results/e/c.npz": 2})
    with pytest.raises(CorruptFileError, match=r"different versions of results/e/a\.npz"):
        job("reader", [], ["results/e/b.npz", "results/e/c.npz"], {})
    job("reader", [], ["results/e/a.npz", "results/e/c.npz"], {})  # consistent: fine


def test_outputs_record_the_jobs_reads_and_siblings(work):
    study(work)
    record = read_record("results/e/b.npz")
    assert record.rule == "make_bc" and record.outputs == ("e/b.npz", "e/c.npz")
    assert record.inputs == {"e/a.npz": sha256("results/e/a.npz")}
    listed = json.loads(Path("results/e", INVENTORY).read_text())["files"]
    assert sorted(listed) == ["a.npz", "b.npz", "c.npz", "d.npz"]  # c: b's sibling


def test_a_finished_study_verifies_and_every_problem_is_named(work, capsys):
    study(work)
    assert main(["results/e"]) == 0
    assert "results/e: 4 files of the finished study verified" in capsys.readouterr().out
    write_npz("results/e/old.npz", x=np.arange(2))  # left from an earlier configuration
    assert main(["results/e"]) == 0
    assert "note: results/e/old.npz: not part of the finished study" in capsys.readouterr().out

    def problems(change) -> list[str]:
        scratch = work / "scratch"
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.copytree(work / "results", scratch / "results")
        change(scratch / "results" / "e")
        errors, _, _ = verify_study(scratch / "results" / "e")
        return errors

    def sidecar_gone(e):
        sidecar(e / "c.npz").unlink()

    def file_gone(e):
        (e / "b.npz").unlink()

    def resealed(e):
        """d.npz changed and its sha256 recomputed: the inventory still knows."""
        np.savez(e / "d.npz", x=np.array([4]))
        text = sidecar(e / "d.npz").read_text().split("\n", 1)
        sidecar(e / "d.npz").write_text(f"{sha256(e / 'd.npz')}  d.npz\n{text[1]}")

    def upstream_resealed(e):
        """a.npz changed and resealed: b and c, made from it, say so."""
        np.savez(e / "a.npz", x=np.array([5]))
        text = sidecar(e / "a.npz").read_text().split("\n", 1)
        sidecar(e / "a.npz").write_text(f"{sha256(e / 'a.npz')}  a.npz\n{text[1]}")
        listing = json.loads((e / INVENTORY).read_text())
        listing["files"]["a.npz"] = sha256(e / "a.npz")  # even with the inventory edited
        (e / INVENTORY).write_text(json.dumps(listing))
        text = sidecar(e / INVENTORY).read_text().split("\n", 1)
        sidecar(e / INVENTORY).write_text(f"{sha256(e / INVENTORY)}  {INVENTORY}\n{text[1]}")

    missing_record = "c.npz: its checksum record c.npz.sha256 is missing"
    assert any(missing_record in p for p in problems(sidecar_gone))
    assert any("b.npz: listed in inventory.json but missing" in p for p in problems(file_gone))
    assert any("d.npz: changed since the study finished" in p for p in problems(resealed))
    found = problems(upstream_resealed)
    assert any("b.npz: made from results/e/a.npz" in p for p in found)
    assert any("c.npz: made from results/e/a.npz" in p for p in found)
    assert any("not a finished study" in p for p in problems(lambda e: (e / INVENTORY).unlink()))


def test_a_missing_or_empty_folder_fails(work, capsys):
    assert main(["results/none"]) == 1
    assert "results/none: no such study folder" in capsys.readouterr().err
    (work / "results" / "empty").mkdir()
    assert main(["results/empty"]) == 1
    assert "an empty study folder" in capsys.readouterr().err
    assert main([]) == 2
