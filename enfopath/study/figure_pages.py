"""A figure as a page of the report: the image, its caption under it, and what the study finds.

Snakemake's report shows an image alone and keeps its caption behind an icon; an HTML page is
shown as it is. Each figure's page holds the PNG (embedded), its caption rendered for the study
(:func:`enfopath.study.figure_names.rendered_caption`: what is plotted and how to read it) and
the findings of the report's first page that this figure shows, from the study's tables
(:func:`enfopath.study.page_one.findings_of`: the conclusion). reStructuredText becomes HTML
through docutils, as in Snakemake's own report. Self-contained: no network at view time.
"""

from __future__ import annotations

import base64
import html

STYLE = """
body { font-family: system-ui, sans-serif; font-size: 14px; margin: 12px; max-width: 1400px; }
img { max-width: 100%; height: auto; }
div.caption, div.findings { max-width: 70em; line-height: 1.45; }
h4 { margin: 0.8em 0 0.2em 0; }
"""


def rst_html(text: str) -> str:
    """reStructuredText as an HTML fragment (docutils; no document title promotion)."""
    from docutils.core import publish_parts

    settings = {"doctitle_xform": False, "report_level": 5, "halt_level": 5}
    return publish_parts(text, writer="html5", settings_overrides=settings)["body"]


def figure_page(name: str, png: bytes, caption: str, findings: list[str]) -> str:
    """The page of figure ``name``: the PNG bytes, the ``caption`` (reStructuredText) under it
    and the ``findings`` (reStructuredText, one each) below."""
    image = base64.b64encode(png).decode()
    found = ""
    if findings:
        items = "\n".join(f"- {f}" for f in findings)
        found = f'<h4>What this study finds</h4><div class="findings">{rst_html(items)}</div>'
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(name)}</title><style>{STYLE}</style></head><body>\n"
        f'<img alt="{html.escape(name)}" src="data:image/png;base64,{image}">\n'
        f'<h4>{html.escape(name)}.png</h4><div class="caption">{rst_html(caption)}</div>\n'
        f"{found}\n</body></html>\n"
    )
