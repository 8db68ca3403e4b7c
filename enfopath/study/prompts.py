"""The prompts of a text-to-image study and which prompt and seed each sample is.

A prompt file (``prompts.file``) is either plain text, one prompt a line, or a table with a
header (``.csv``, comma-separated; ``.tsv``, tab-separated) with a ``prompt`` column and
optional ``id`` and ``category`` columns (ids default to the prompt's 1-based line, categories
to empty). It is read strictly, so that a study never runs on prompts other than the ones its
author wrote: the file must be UTF-8 (an undecodable byte is named by its line), and an empty
file, an empty prompt, a prompt given twice or an id given twice is an error naming the line
(both lines for a repeat). Leading and trailing spaces of a prompt are dropped. The encoders'
token limits are checked where the tokenizers are, when the prompts are encoded.

Sample *i* is prompt ``i // samples_per_prompt`` with seed index ``i % samples_per_prompt``
(:func:`enfopath.seeding.sample_prompt`): the prompt-major order keeps a prompt's seeds
together, and the noise of sample *i* still comes from (seed, *i*) as for every study, so
per-sample results do not depend on sharding. The standard library's ``csv`` reads the tables
(quoted fields with commas or tabs inside them), pandas is not needed for a few hundred lines.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from enfopath.models.t2i_pipeline import Truncation

TABLE_DELIMITERS = {".csv": ",", ".tsv": "\t"}
"""The table formats of a prompt file, by suffix; any other suffix is plain text."""
COLUMNS = ("prompt", "id", "category")
"""The columns a prompt table may have (``prompt`` required)."""


class PromptFileError(ValueError):
    """A prompt file that cannot be used as it is: the message names the file and the line."""


@dataclass(frozen=True)
class Prompt:
    """One prompt: its ``id`` (unique in the file), ``text`` and ``category`` (may be empty),
    and the ``line`` of the file it is on (1-based, counting a table's header)."""

    id: str
    text: str
    category: str
    line: int


def _decode(path: Path) -> str:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise PromptFileError(
            f"{path}: line {line} is not UTF-8 (byte {data[err.start]:#04x} at offset "
            f"{err.start}); save the file as UTF-8"
        ) from None
    return text[1:] if text.startswith("\ufeff") else text  # a byte-order mark is allowed


def _rows(path: Path, text: str) -> list[tuple[int, dict[str, str]]]:
    """(line, fields) of each prompt of the file's ``text``."""
    delimiter = TABLE_DELIMITERS.get(path.suffix.lower())
    if delimiter is None:
        return [(n, {"prompt": line}) for n, line in enumerate(text.splitlines(), start=1)]
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [name.strip() for name in reader.fieldnames or []]
    if "prompt" not in header:
        raise PromptFileError(
            f"{path}: line 1 must be a header with a 'prompt' column, got {header}"
        )
    unknown = sorted(set(header) - set(COLUMNS))
    if unknown:
        raise PromptFileError(
            f"{path}: line 1 names columns {unknown}; a prompt table has {COLUMNS}"
        )
    reader.fieldnames = header
    rows = []
    for fields in reader:
        if None in fields:  # more fields than the header names
            raise PromptFileError(f"{path}: line {reader.line_num} has more fields than its header")
        rows.append((reader.line_num, {k: (v or "") for k, v in fields.items()}))
    return rows


def read_prompts(path: str | os.PathLike[str]) -> list[Prompt]:
    """The prompts of a prompt file, in its order (the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise PromptFileError(f"{path}: no such prompt file (prompts.file)")
    prompts: list[Prompt] = []
    first_line: dict[str, int] = {}
    id_line: dict[str, int] = {}
    for line, fields in _rows(path, _decode(path)):
        text = fields["prompt"].strip()
        if not text:
            raise PromptFileError(f"{path}: line {line} has an empty prompt")
        if text in first_line:
            raise PromptFileError(
                f"{path}: line {line} repeats the prompt of line {first_line[text]} ({text!r}); "
                "ask for more samples of it with prompts.samples_per_prompt instead"
            )
        pid = fields.get("id", "").strip() or str(line)
        if pid in id_line:
            raise PromptFileError(
                f"{path}: line {line} repeats the id {pid!r} of line {id_line[pid]}"
            )
        first_line[text], id_line[pid] = line, line
        prompts.append(Prompt(pid, text, fields.get("category", "").strip(), line))
    if not prompts:
        raise PromptFileError(f"{path}: the prompt file holds no prompt")
    return prompts


def truncation_notes(
    path: str | os.PathLike[str], prompts: list[Prompt], found: list[Truncation]
) -> list[str]:
    """One line per prompt that an encoder truncates (``found``:
    :func:`enfopath.models.t2i_pipeline.truncations` of these ``prompts``, by index), naming
    the file, the line, the id, the tokenizer and the tokens it keeps: what the encoding job
    logs, since the model itself truncates such a prompt (as its pipeline does)."""
    return [
        f"{path}: line {prompts[t.index].line} (id {prompts[t.index].id}): {t.tokens} tokens for "
        f"{t.tokenizer}, which keeps {t.limit}; the encoder truncates the prompt there"
        for t in found
    ]
