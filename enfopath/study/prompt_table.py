"""The table of what a prompt set allows (``statistics/prompt_effects.csv``; the measures of
:mod:`enfopath.measures.prompt_effects`), one row per analysis, measure and category, in one
layout so that a reader can sort and compare them.

Columns: ``analysis`` (``icc``: the prompt's share of a measure's variance, ICC(1);
``prompt_means``: Spearman's ρ across prompts of the per-prompt means; ``within_prompt``: the
pooled within-prompt rank correlation; ``category``: a measure's mean per prompt category),
``measure`` and ``against`` (the second measure of a correlation, empty otherwise),
``category`` (empty but for the category rows), ``estimate`` (the ICC, ρ or mean) with
``ci_low`` / ``ci_high`` (cluster bootstrap over prompts; none for a category mean), ``p``
and its Benjamini–Hochberg ``q`` over the table's tests, ``n_prompts``, ``n_samples``, and for
the ICC its variance components ``var_between`` / ``var_within``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from enfopath.measures.inference import with_q_values
from enfopath.measures.prompt_effects import (
    Resampling,
    category_means,
    prompt_icc,
    prompt_mean_spearman,
    within_prompt_spearman,
)

ENERGIES = ("kpe", "straightness")
"""The energies whose prompt effects are tabled: the KPE and its excess over the chord."""
SEMANTICS = ("clip_score", "clip_margin")
"""The semantic measures a text-to-image study scores against each sample's prompt."""
COLUMNS = (
    "analysis",
    "measure",
    "against",
    "category",
    "estimate",
    "ci_low",
    "ci_high",
    "p",
    "n_prompts",
    "n_samples",
    "var_between",
    "var_within",
)


def prompt_effects_table(table: pd.DataFrame, resampling: Resampling) -> pd.DataFrame:
    """The prompt-effects table (the module docstring) of a text-to-image study's analysed
    samples ``table`` (its ``prompt_id``, ``prompt_category``, energies and CLIP scores)."""
    prompts = table["prompt_id"].to_numpy()
    rows: list[dict[str, object]] = []
    for measure in (*ENERGIES, *SEMANTICS):
        r = prompt_icc(table[measure].to_numpy(), prompts, resampling, stream=f"icc/{measure}")
        rows.append(
            {
                "analysis": "icc",
                "measure": measure,
                "estimate": r["icc"],
                "ci_low": r["icc_ci_low"],
                "ci_high": r["icc_ci_high"],
                "n_prompts": r["n_prompts"],
                "n_samples": r["n_samples"],
                "var_between": r["var_between"],
                "var_within": r["var_within"],
            }
        )
    for energy in ENERGIES:
        for semantic in SEMANTICS:
            x, y = table[energy].to_numpy(), table[semantic].to_numpy()
            pair = f"{energy}/{semantic}"
            across = prompt_mean_spearman(x, y, prompts, resampling, f"prompt_means/{pair}")
            within = within_prompt_spearman(x, y, prompts, resampling, f"within/{pair}")
            for analysis, r, name in (
                ("prompt_means", across, "spearman"),
                ("within_prompt", within, "within"),
            ):
                rows.append(
                    {
                        "analysis": analysis,
                        "measure": energy,
                        "against": semantic,
                        "estimate": r[f"{name}_rho"],
                        "ci_low": r[f"{name}_rho_ci_low"],
                        "ci_high": r[f"{name}_rho_ci_high"],
                        "p": r[f"{name}_p"],
                        "n_prompts": r["n_prompts"],
                        "n_samples": r.get("n_samples", len(x)),
                    }
                )
    for measure in ("kpe", "clip_score"):
        means = category_means(
            table[measure].to_numpy(), prompts, table["prompt_category"].to_numpy()
        )
        for category, r in means.items():
            rows.append(
                {
                    "analysis": "category",
                    "measure": measure,
                    "category": category,
                    "estimate": r["mean"],
                    "n_prompts": r["n_prompts"],
                    "n_samples": r["n_samples"],
                }
            )
    out = pd.DataFrame(rows, columns=list(COLUMNS))
    out[["against", "category"]] = out[["against", "category"]].fillna("")
    out[["n_prompts", "n_samples"]] = out[["n_prompts", "n_samples"]].astype(np.int64)
    return with_q_values(out)
