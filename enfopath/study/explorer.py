"""The per-sample explorer: one self-contained HTML page with every sample of the study.

KPE (y) against a measure chosen from a menu (x: the semantic measures, the kNN log-density, the
distance to the nearest neighbour and the KDE log-density of each space, ‖x₀‖², the chord and
excess energies), coloured by class or by KPE group (a second menu); hovering a point shows its
image (a PNG thumbnail embedded in the page) with its numbers, and dragging a rectangle selects
samples, whose images and numbers the panels below list (the first :data:`LISTED` of them, and
their count).

Built with altair (Vega-Lite): the chart is a declarative spec, and ``to_html(inline=True)``
embeds Vega, Vega-Lite and vega-embed in the page (through vl-convert), so it opens with no
network. The page sets ``window.explorer`` to the Vega view once drawn, and
``document.body.dataset.ready``, which the browser test waits for. Beyond ``explorer_samples``
samples (``figures.explorer_samples``) the page shows a uniform subsample of that many, drawn
from the study seed's own stream and stated in its title, so a large study stays responsive
instead of freezing the browser.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
import pandas as pd

from enfopath.seeding import numpy_rng
from enfopath.study.tables import CLASS_LABELS, SEMANTIC
from enfopath.study.words import describe

LISTED = 12
"""Selected samples whose images and numbers are listed below the scatter."""
ROW = 34
"""Height of one listed sample's row, in pixels (its image is 32 pixels high)."""
THUMBNAIL = 64
"""Thumbnail side in pixels (nearest-neighbour upscaling of small images)."""
CONTEXT = ("x0_norm_sq", "chord_energy", "straightness", "kpe_early")
"""Per-sample quantities beside the measures on the x menu."""
COLOURINGS = ("class", "KPE group")
"""What the points may be coloured by."""
EMBED_CALL = "vegaEmbed('#vis', spec, embedOpt).catch(console.error);"
READY_CALL = (
    "vegaEmbed('#vis', spec, embedOpt).then(result => { window.explorer = result.view; "
    "document.body.dataset.ready = '1'; }).catch(console.error);"
)


def thumbnail(image: np.ndarray) -> str:
    """A ``data:`` URL of a PNG of ``image`` (C, H, W) in [−1, 1]: grey for one channel, RGB for
    three, at most :data:`THUMBNAIL` pixels a side (small images upscaled by an integer
    factor, nearest neighbour, so their pixels stay visible)."""
    from PIL import Image

    pixels = ((np.clip(image, -1.0, 1.0) + 1.0) * 127.5).round().astype(np.uint8)
    picture = Image.fromarray(pixels[0] if len(pixels) == 1 else np.moveaxis(pixels, 0, -1))
    side = max(picture.size)
    if side < THUMBNAIL:
        factor = THUMBNAIL // side
        picture = picture.resize((picture.width * factor, picture.height * factor), Image.NEAREST)
    elif side > THUMBNAIL:
        picture.thumbnail((THUMBNAIL, THUMBNAIL))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def explorer_measures(analysed: pd.DataFrame, prefixes: list[str], k: int) -> list[str]:
    """The x menu's columns, those present: the semantic measures, each space's kNN
    log-density at ``k``, nearest-neighbour distance and KDE log-density, then
    :data:`CONTEXT`."""
    density = [
        f"{p}_{suffix}"
        for p in prefixes
        for suffix in (f"knn_logdens{k}", "nn_dist", "kde_logdens")
    ]
    return [c for c in (*SEMANTIC, *density, *CONTEXT) if c in analysed.columns]


def explorer_table(
    analysed: pd.DataFrame,
    measures: list[str],
    group_quantile: float,
    class_names: list[str],
    images: dict[int, np.ndarray] | None,
    limit: int,
    seed: int,
) -> tuple[pd.DataFrame, str]:
    """The rows the page draws (at most ``limit``: a uniform subsample of the analysed samples
    beyond it, from the stream ``explorer`` of ``seed``) and the note that says so: ``sample``,
    ``kpe``, each of ``measures``, ``class`` (the class the study's semantics assigns, or the
    conditioning label, in words), ``KPE group`` (low / between / high by ``group_quantile``
    over all analysed samples) and ``image`` (a thumbnail) where ``images`` are given."""
    from enfopath.measures.groups import kpe_groups

    table = analysed[["sample", "kpe", *measures]].copy()
    table["KPE group"] = kpe_groups(analysed["kpe"], group_quantile).to_numpy()
    labels = next((c for c in CLASS_LABELS if c in analysed.columns), None)
    if labels is None and "label" in analysed.columns and (analysed["label"] >= 0).all():
        labels = "label"
    table["class"] = (
        [
            class_names[int(i)] if 0 <= int(i) < len(class_names) else str(i)
            for i in analysed[labels]
        ]
        if labels is not None
        else "unlabelled"
    )
    n = len(table)
    if n > limit:
        keep = np.sort(numpy_rng(seed, "explorer").choice(n, size=limit, replace=False))
        table = table.iloc[keep]
        note = f"a uniform subsample of {limit:,} of the {n:,} analysed samples"
    else:
        note = f"all {n:,} analysed samples"
    if images is not None:
        table["image"] = [thumbnail(images[int(s)]) for s in table["sample"]]
    return table.reset_index(drop=True), note


def explorer_chart(table: pd.DataFrame, measures: list[str], title: str) -> Any:
    """The altair chart of :func:`explorer_table`'s rows."""
    import altair as alt

    alt.data_transformers.disable_max_rows()
    pick_x = alt.param(
        name="x_measure",
        value=measures[0],
        bind=alt.binding_select(
            options=measures, labels=[describe(m) for m in measures], name="x axis: "
        ),
    )
    pick_colour = alt.param(
        name="colour_by",
        value=COLOURINGS[0],
        bind=alt.binding_select(options=list(COLOURINGS), name="colour by: "),
    )
    brush = alt.selection_interval(name="brush", encodings=["x", "y"])
    has_images = "image" in table.columns
    tooltip = [
        alt.Tooltip("sample:Q", title="sample"),
        alt.Tooltip("kpe:Q", title="KPE", format=".4g"),
        alt.Tooltip("x_value:Q", title="x", format=".4g"),
        alt.Tooltip("class:N", title="class"),
        alt.Tooltip("KPE group:N", title="KPE group"),
    ]
    if has_images:  # vega-tooltip draws the entry titled "image" as the image itself
        tooltip.insert(0, alt.Tooltip("image:N", title="image"))
    base = alt.Chart(table).transform_calculate(
        x_value=f"datum[{pick_x.name}]",
        colour=f"{pick_colour.name} == 'class' ? datum['class'] : datum['KPE group']",
    )
    scatter = (
        base.mark_circle(size=18, opacity=0.7)
        .encode(
            x=alt.X("x_value:Q", title="the measure chosen above", scale=alt.Scale(zero=False)),
            y=alt.Y("kpe:Q", title=describe("kpe"), scale=alt.Scale(zero=False)),
            color=alt.condition(brush, alt.Color("colour:N", title=None), alt.value("lightgray")),
            tooltip=tooltip,
        )
        .add_params(pick_x, pick_colour, brush)
        .properties(width=620, height=420, name="samples")
    )
    chosen = base.transform_filter(brush).transform_window(rank="row_number()")
    count = chosen.transform_aggregate(selected="count()").mark_text(align="left", fontSize=12)
    count = count.encode(text=alt.Text("selected:Q", format=",")).properties(
        width=620, height=18, title="samples selected (drag a rectangle; double-click clears)"
    )
    listed = chosen.transform_filter(alt.datum.rank <= LISTED)
    rows = listed.mark_text(align="left", fontSize=11).encode(
        y=alt.Y("rank:O", axis=None),
        text=alt.Text("line:N"),
    )
    rows = rows.transform_calculate(
        line="'sample ' + datum.sample + ' · KPE ' + format(datum.kpe, '.4g') + ' · x ' + "
        "format(datum.x_value, '.4g') + ' · ' + datum['class'] + ' · ' + datum['KPE group']"
    ).properties(width=520, height=LISTED * ROW)
    panels: list[Any] = [rows]
    if has_images:
        strip = listed.mark_image(width=32, height=32).encode(
            y=alt.Y("rank:O", axis=None), url="image:N"
        )
        panels.insert(0, strip.properties(width=40, height=LISTED * ROW))
    return alt.vconcat(scatter, count, alt.hconcat(*panels), title=title).configure_view(
        strokeWidth=0
    )


def explorer_html(chart: Any) -> str:
    """The page: the chart with Vega, Vega-Lite and vega-embed inline (no network), exposing
    the view as ``window.explorer`` once drawn."""
    page = chart.to_html(inline=True, embed_options={"renderer": "canvas", "actions": False})
    if EMBED_CALL not in page:
        raise RuntimeError("altair's inline page changed: its vegaEmbed call is not where expected")
    return page.replace(EMBED_CALL, READY_CALL)
