"""A study table as a page of its own for the report: readable, sortable, self-contained.

Snakemake's report offers a CSV only as a download; an HTML page is shown in the report itself.
Each page holds the table with its numbers rounded to what they can carry (:func:`cell`: counts
with thousands separators, p- and q-values to two significant digits, every other number to
four), the exact value of each cell kept in its ``title`` (shown on hover) and in the
``data-value`` the sorting reads, q-values beside their p-values as the tables order them, and a
few lines of inline JavaScript that sort a column on a click of its header (numbers as numbers,
missing values last). Written here rather than with ``DataFrame.to_html`` or pandas' Styler
because neither sorts, and the page must work with no network and no library at view time.
"""

from __future__ import annotations

import html
import math
import re

import numpy as np
import pandas as pd

P_OR_Q = re.compile(r"(^|_)(p|q)($|_)")
"""Columns holding p- or q-values (``spearman_p``, ``q``, ``fisher_p``...)."""
COUNTS = re.compile(r"(^|_)(n|nfe|k|bin|steps|seed|step|memorized)($|_)")
"""Integer-valued columns written without decimals even when stored as floats (missing values
make pandas read them as floats)."""

SCRIPT = """
document.querySelectorAll("th").forEach((th, column) => th.addEventListener("click", () => {
  const body = th.closest("table").tBodies[0];
  const up = th.dataset.order !== "up";
  th.closest("tr").querySelectorAll("th").forEach(h => delete h.dataset.order);
  th.dataset.order = up ? "up" : "down";
  const key = row => row.cells[column].dataset.value;
  const rows = Array.from(body.rows).sort((a, b) => {
    const x = key(a), y = key(b);
    if (x === "") return 1;
    if (y === "") return -1;
    const nx = Number(x), ny = Number(y);
    const cmp = isNaN(nx) || isNaN(ny) ? x.localeCompare(y) : nx - ny;
    return up ? cmp : -cmp;
  });
  rows.forEach(row => body.appendChild(row));
}));
"""
STYLE = """
body { font-family: system-ui, sans-serif; font-size: 13px; margin: 12px; }
table { border-collapse: collapse; }
th, td { padding: 2px 8px; border-bottom: 1px solid #ddd; white-space: nowrap; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
th { cursor: pointer; position: sticky; top: 0; background: #f3f3f3; text-align: left; }
th[data-order="up"]::after { content: " ▲"; }
th[data-order="down"]::after { content: " ▼"; }
p.note { color: #555; }
"""


def cell(value: object, column: str) -> str:
    """How one value of ``column`` is written: p- and q-values with two significant digits
    (scientific below 0.001), counts with thousands separators, other numbers with four
    significant digits, a true minus sign, '' for a missing value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}".replace("-", "−")
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if not math.isfinite(v):
            return str(v)
        if P_OR_Q.search(column):
            text = f"{v:.1e}" if 0 < v < 1e-3 else f"{v:.2g}"
        elif COUNTS.search(column) and v.is_integer():
            text = f"{int(v):,}"
        else:
            text = f"{v:.4g}"
        return text.replace("-", "−")
    return str(value)


def _raw(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return str(value)


def table_page(df: pd.DataFrame, title: str, note: str = "") -> str:
    """A self-contained HTML page of ``df`` (one row per table row, the columns in order),
    titled ``title``, with ``note`` (plain text) under the title."""
    numeric = {c: pd.api.types.is_numeric_dtype(df[c]) for c in df.columns}
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for values in df.itertuples(index=False, name=None):
        cells = []
        for column, value in zip(df.columns, values, strict=True):
            raw = html.escape(_raw(value), quote=True)
            kind = ' class="number"' if numeric[column] else ""
            cells.append(
                f'<td{kind} data-value="{raw}" title="{raw}">'
                f"{html.escape(cell(value, str(column)))}</td>"
            )
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>\n"
        f"<h3>{html.escape(title)}</h3>\n"
        f'<p class="note">{html.escape(note)}</p>\n'
        f"<table><thead><tr>{head}</tr></thead><tbody>\n" + "\n".join(rows) + "\n</tbody></table>\n"
        f"<script>{SCRIPT}</script>\n</body></html>\n"
    )
