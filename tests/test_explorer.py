"""The per-sample explorer's page: its rows, its subsample beyond the limit, its thumbnails."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pandas as pd
from conftest import TINY
from PIL import Image

from enfopath.study.explorer import (
    READY_CALL,
    THUMBNAIL,
    explorer_chart,
    explorer_html,
    explorer_measures,
    explorer_table,
    thumbnail,
)
from enfopath.study.tables import analysed_samples


def samples(study: Path) -> pd.DataFrame:
    path = study / "results" / TINY["experiment"] / "samples.parquet"
    return analysed_samples(pd.read_parquet(path))


def test_a_thumbnail_is_the_image_upscaled_pixel_for_pixel():
    image = np.linspace(-1, 1, 64, dtype=np.float32).reshape(1, 8, 8)
    url = thumbnail(image)
    assert url.startswith("data:image/png;base64,")
    picture = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert picture.size == (THUMBNAIL, THUMBNAIL)
    pixels = np.asarray(picture)
    expected = ((image[0] + 1) * 127.5).round().astype(np.uint8)
    np.testing.assert_array_equal(pixels[:: THUMBNAIL // 8, :: THUMBNAIL // 8], expected)


def test_beyond_the_limit_a_stated_seeded_subsample_is_drawn(study):
    analysed = samples(study)
    measures = explorer_measures(analysed, ["pixels", "classifier"], min(TINY["density"]["k"]))
    assert measures[:2] == ["clf_confidence", "clf_margin"] and "x0_norm_sq" in measures
    names = [str(i) for i in range(10)]
    full, note = explorer_table(analysed, measures, 0.2, names, None, 1000, seed=3)
    assert len(full) == len(analysed) and note == f"all {len(analysed)} analysed samples"
    assert (full["KPE group"] == "low").sum() == (analysed.kpe <= analysed.kpe.quantile(0.2)).sum()
    part, note = explorer_table(analysed, measures, 0.2, names, None, 10, seed=3)
    assert (
        len(part) == 10
        and note == f"a uniform subsample of 10 of the {len(analysed)} analysed samples"
    )
    again, _ = explorer_table(analysed, measures, 0.2, names, None, 10, seed=3)
    other, _ = explorer_table(analysed, measures, 0.2, names, None, 10, seed=4)
    assert part["sample"].tolist() == again["sample"].tolist() != other["sample"].tolist()
    row = full.set_index("sample").loc[int(part["sample"].iloc[0])]
    assert (
        row["class"]
        == names[int(analysed.set_index("sample").loc[int(part["sample"].iloc[0]), "clf_class"])]
    )


def test_the_page_needs_no_network_and_says_when_it_is_drawn(study):
    analysed = samples(study).head(20)
    measures = explorer_measures(analysed, ["pixels"], 2)
    images = {int(s): np.zeros((1, 8, 8), np.float32) for s in analysed["sample"]}
    table, note = explorer_table(
        analysed, measures, 0.2, [str(i) for i in range(10)], images, 50, 0
    )
    page = explorer_html(explorer_chart(table, measures, note))
    assert READY_CALL in page and "<script src=" not in page and "cdn.jsdelivr" not in page
    assert page.count("data:image/png;base64,") >= len(table)
