"""Study tables as report pages: rounded for reading, exact on hover and for sorting."""

from __future__ import annotations

from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from enfopath.study.html_tables import cell, table_page


@pytest.mark.parametrize(
    ("value", "column", "text"),
    [
        (0.0123456, "spearman_rho", "0.01235"),
        (-0.5, "partial_rho", "−0.5"),
        (3.2e-17, "spearman_q", "3.2e−17"),
        (0.4567, "pearson_p", "0.46"),
        (0.0, "q", "0"),
        (4096, "n", "4,096"),
        (410.0, "n_real", "410"),
        (176.75, "nfe_mean", "176.8"),
        (float("nan"), "spearman_rho", ""),
        (True, "stable", "True"),
        ("dopri5 rtol 1e-07", "setting", "dopri5 rtol 1e-07"),
        (123456.789, "kpe", "1.235e+05"),
    ],
)
def test_each_kind_of_value_is_rounded_to_what_it_carries(value, column, text):
    assert cell(value, column) == text


class Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.head: list[str] = []
        self.rows: list[list[dict[str, str]]] = []
        self._in: str | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        if tag in ("th", "td"):
            self._in = tag
            if tag == "td":
                self.rows[-1].append({**dict(attrs), "text": ""})

    def handle_endtag(self, tag):
        if tag in ("th", "td"):
            self._in = None

    def handle_data(self, data):
        if self._in == "th":
            self.head.append(data)
        elif self._in == "td":
            self.rows[-1][-1]["text"] += data


def test_a_page_holds_every_row_with_its_exact_values():
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {
            "measure": ["clf_margin", "pixels_<knn>&", "x"],
            "n": [4096, 4096, 12],
            "spearman_rho": rng.normal(size=3),
            "spearman_p": [1e-20, 0.5, float("nan")],
        }
    )
    parser = Cells()
    parser.feed(table_page(df, "correlations.csv", "3 rows"))
    rows = [r for r in parser.rows if r]
    assert parser.head == list(df.columns)
    assert len(rows) == len(df)
    for row, (_, expected) in zip(rows, df.iterrows(), strict=True):
        assert row[0]["text"] == expected.measure  # escaped in the page, read back as written
        assert float(row[2]["data-value"]) == expected.spearman_rho  # exact, bit for bit
        assert row[2]["title"] == row[2]["data-value"]
        assert row[2]["text"] == cell(expected.spearman_rho, "spearman_rho")
    assert rows[2][3]["data-value"] == ""  # a missing p-value: empty, sorted last
    assert 'class="number"' in table_page(df, "t") and "<script>" in table_page(df, "t")
