"""Prompt files of a text-to-image study: plain text or a table, read strictly, and which prompt
and seed each sample is."""

from __future__ import annotations

import pytest
from conftest import ROOT

from enfopath.seeding import sample_prompt
from enfopath.study.prompts import PromptFileError, read_prompts

SHIPPED = ROOT / "configs" / "prompts" / "t2i_prompts.tsv"


def write(tmp_path, name: str, content: str | bytes):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def test_a_text_file_is_one_prompt_a_line_with_its_line_as_id(tmp_path):
    path = write(tmp_path, "p.txt", "\ufeffa red fox\n  two cats , side by side \na lighthouse\n")
    prompts = read_prompts(path)
    assert [p.text for p in prompts] == ["a red fox", "two cats , side by side", "a lighthouse"]
    assert [p.id for p in prompts] == ["1", "2", "3"] and {p.category for p in prompts} == {""}


@pytest.mark.parametrize(
    "name, content",
    [
        ("p.csv", 'id,prompt,category\nfox,"a red fox, in snow",animals\ncats,two cats,animals\n'),
        (
            "p.tsv",
            "prompt\tid\tcategory\na red fox, in snow\tfox\tanimals\ntwo cats\tcats\tanimals\n",
        ),
    ],
)
def test_a_table_has_a_prompt_column_and_optional_ids_and_categories(tmp_path, name, content):
    prompts = read_prompts(write(tmp_path, name, content))
    assert [(p.id, p.text, p.category, p.line) for p in prompts] == [
        ("fox", "a red fox, in snow", "animals", 2),
        ("cats", "two cats", "animals", 3),
    ]


@pytest.mark.parametrize(
    "name, content, match",
    [
        ("p.txt", "", r"p\.txt: the prompt file holds no prompt"),
        ("p.txt", "a fox\n   \na cat\n", r"p\.txt: line 2 has an empty prompt"),
        ("p.txt", "a fox\na cat\na fox \n", r"line 3 repeats the prompt of line 1 \('a fox'\)"),
        ("p.txt", b"a fox\na caf\xe9\n", r"p\.txt: line 2 is not UTF-8 \(byte 0xe9 at offset 11\)"),
        ("p.csv", "text\na fox\n", r"p\.csv: line 1 must be a header with a 'prompt' column"),
        ("p.csv", "prompt,seed\na fox,1\n", r"line 1 names columns \['seed'\]; a prompt table"),
        ("p.csv", "id,prompt\nx,a fox\nx,a cat\n", r"p\.csv: line 3 repeats the id 'x' of line 2"),
        ("p.tsv", "prompt\na fox\textra\n", r"p\.tsv: line 2 has more fields than its header"),
        ("p.csv", "prompt\n", r"p\.csv: the prompt file holds no prompt"),
    ],
)
def test_a_bad_prompt_file_is_refused_naming_its_line(tmp_path, name, content, match):
    with pytest.raises(PromptFileError, match=match):
        read_prompts(write(tmp_path, name, content))


def test_a_missing_prompt_file_names_its_key(tmp_path):
    with pytest.raises(PromptFileError, match=r"no such prompt file \(prompts\.file\)"):
        read_prompts(tmp_path / "none.txt")


def test_samples_are_prompt_major_with_consecutive_seeds():
    assert [sample_prompt(i, 3) for i in range(7)] == [
        (0, 0),
        (0, 1),
        (0, 2),
        (1, 0),
        (1, 1),
        (1, 2),
        (2, 0),
    ]
    with pytest.raises(ValueError, match=r"prompts\.samples_per_prompt must be at least 1"):
        sample_prompt(0, 0)


def test_the_shipped_prompt_set_reads_and_covers_its_categories():
    prompts = read_prompts(SHIPPED)
    assert len(prompts) == 100
    categories = {p.category for p in prompts}
    assert categories == {"objects", "animals", "scenes", "counting", "text", "compositions"}
    assert all(sum(p.category == c for p in prompts) >= 15 for c in categories)
    assert all(p.id.startswith(p.category) for p in prompts)
