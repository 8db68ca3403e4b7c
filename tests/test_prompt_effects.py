"""The prompt-level analyses of a text-to-image study, on cases with known answers and against
scipy's one-way ANOVA and Spearman."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import stats

from enfopath.measures.prompt_effects import (
    Resampling,
    category_means,
    prompt_icc,
    prompt_mean_spearman,
    within_prompt_spearman,
)

OPTIONS = Resampling(seed=0, n_boot=200, confidence=0.95)
NONE = Resampling(seed=0, n_boot=0, confidence=0.95)


def balanced(g: int = 12, k: int = 5, between: float = 2.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    prompts = np.repeat(np.arange(g), k)
    effect = rng.normal(0, between, g)
    return effect[prompts] + rng.normal(0, 1, g * k), prompts, effect


def test_the_icc_of_a_balanced_design_is_scipys_anova_f_transformed():
    """ICC(1) = (F − 1) / (F + k − 1) with F scipy's one-way ANOVA statistic."""
    values, prompts, _ = balanced()
    f = stats.f_oneway(*[values[prompts == p] for p in range(12)]).statistic
    got = prompt_icc(values, prompts, OPTIONS)
    assert got["icc"] == pytest.approx((f - 1) / (f + 5 - 1), rel=1e-12)
    assert got["icc_ci_low"] < got["icc"] < got["icc_ci_high"]
    assert got["n_prompts"] == 12 and got["n_samples"] == 60
    share = got["var_between"] / (got["var_between"] + got["var_within"])
    assert share == pytest.approx(got["icc"], rel=1e-12)  # balanced: the same ratio


def test_the_icc_is_one_without_noise_and_near_zero_without_prompts():
    prompts = np.repeat(np.arange(10), 4)
    assert prompt_icc(np.arange(10.0)[prompts], prompts, OPTIONS)["icc"] == 1.0
    noise = np.random.default_rng(3).normal(size=4000)
    got = prompt_icc(noise, np.repeat(np.arange(400), 10), OPTIONS)
    assert abs(got["icc"]) < 0.05 and got["icc_ci_low"] < 0 < got["icc_ci_high"]


def test_the_unbalanced_icc_uses_the_effective_group_size():
    """Two prompts of 2 and 4 samples: k₀ = (6 − 20/6) / 1 = 8/3 by hand."""
    values = np.array([1.0, 3.0, 4.0, 6.0, 5.0, 7.0])
    prompts = np.array([0, 0, 1, 1, 1, 1])
    grand = 26 / 6
    msb = (2 * (2 - grand) ** 2 + 4 * (5.5 - grand) ** 2) / 1
    msw = (1 + 1 + 2.25 + 0.25 + 0.25 + 2.25) / 4
    k0 = 8 / 3
    got = prompt_icc(values, prompts, NONE)
    assert got["icc"] == pytest.approx((msb - msw) / (msb + (k0 - 1) * msw), rel=1e-12)


def test_within_prompt_rho_sees_the_seeds_of_a_prompt_not_the_prompts():
    """y rises with x among the seeds of every prompt, while the prompts' means run the other
    way: within ρ = 1, across prompts ρ = −1, and the pooled Spearman is negative."""
    rng = np.random.default_rng(1)
    prompts = np.repeat(np.arange(8), 6)
    x = rng.normal(size=48) + 10 * prompts
    y = rng.normal(size=48)
    y = np.concatenate(
        [np.sort(y[prompts == p])[np.argsort(np.argsort(x[prompts == p]))] for p in range(8)]
    )
    y = y - 10 * prompts
    within = within_prompt_spearman(x, y, prompts, OPTIONS)
    assert within["within_rho"] == pytest.approx(1.0)
    assert within["within_p"] == pytest.approx(1 / 201)
    across = prompt_mean_spearman(x, y, prompts, OPTIONS)
    assert across["spearman_rho"] == pytest.approx(-1.0) and across["n_prompts"] == 8
    assert stats.spearmanr(x, y)[0] < -0.9


def test_within_prompt_rho_of_one_prompt_is_spearmans_and_noise_is_not_significant():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=30), rng.normal(size=30)
    x[:3] = x[3]  # ties, averaged as scipy does
    one = within_prompt_spearman(x, y, np.zeros(30), OPTIONS)
    assert one["within_rho"] == pytest.approx(stats.spearmanr(x, y)[0], rel=1e-12)
    prompts = np.repeat(np.arange(50), 8)
    noise = within_prompt_spearman(rng.normal(size=400), rng.normal(size=400), prompts, OPTIONS)
    assert noise["within_p"] > 0.05 and noise["within_rho_ci_low"] < 0 < noise["within_rho_ci_high"]


def test_intervals_are_reproducible_from_the_seed_and_non_finite_rows_are_left_out():
    values, prompts, _ = balanced()
    a = prompt_icc(values, prompts, OPTIONS)
    assert a == prompt_icc(values, prompts, OPTIONS)
    assert a != prompt_icc(values, prompts, dataclasses.replace(OPTIONS, seed=1))
    values[0] = np.nan
    assert prompt_icc(values, prompts, OPTIONS)["n_samples"] == 59


def test_category_means():
    got = category_means(
        np.array([1.0, 2.0, 3.0, np.nan, 5.0]),
        np.array([0, 0, 1, 1, 2]),
        np.array(["animals", "animals", "scenes", "scenes", "animals"]),
    )
    assert got == {
        "animals": {"mean": pytest.approx(8 / 3), "n_prompts": 2, "n_samples": 3},
        "scenes": {"mean": 3.0, "n_prompts": 1, "n_samples": 1},
    }


def test_one_prompt_or_one_seed_each_has_no_icc():
    one_prompt = prompt_icc(np.arange(5.0), np.zeros(5), NONE)
    one_seed = prompt_icc(np.arange(5.0), np.arange(5), NONE)
    assert np.isnan(one_prompt["icc"]) and np.isnan(one_seed["icc"])


def test_bad_resampling_settings_are_named_by_their_key():
    with pytest.raises(ValueError, match=r"statistics.bootstrap must be at least 0, got -1"):
        Resampling(0, -1, 0.95)
    with pytest.raises(ValueError, match=r"statistics.confidence must lie in \(0, 1\), got 1.0"):
        Resampling(0, 10, 1.0)


def test_the_studys_table_holds_every_analysis_in_one_layout_with_known_answers():
    import pandas as pd

    from enfopath.study.prompt_table import COLUMNS, prompt_effects_table

    values, prompts, effect = balanced(g=6, k=4, between=3.0)
    table = pd.DataFrame(
        {
            "prompt_id": [f"p{p}" for p in prompts],
            "prompt_category": ["a" if p < 3 else "b" for p in prompts],
            "kpe": values,
            "straightness": effect[prompts],  # the prompt's alone: ICC 1
            # across prompts the opposite of the prompt's effect, within a prompt the same noise
            "clip_score": values - 2 * effect[prompts],
            "clip_margin": np.arange(len(values), dtype=float),
        }
    )
    out = prompt_effects_table(table, OPTIONS)
    assert list(out.columns[:7]) == list(COLUMNS[:7]) and "q" in out.columns
    icc = out[out.analysis == "icc"].set_index("measure")
    assert icc.loc["straightness", "estimate"] == pytest.approx(1.0)
    assert icc.loc["kpe", "estimate"] == pytest.approx(prompt_icc(values, prompts, OPTIONS)["icc"])
    pairs = out[(out.measure == "kpe") & (out.against == "clip_score")].set_index("analysis")
    across = prompt_mean_spearman(values, values - 2 * effect[prompts], prompts, OPTIONS)
    assert pairs.loc["prompt_means", "estimate"] == across["spearman_rho"] < -0.5
    assert pairs.loc["within_prompt", "estimate"] == pytest.approx(1.0)
    assert pairs.loc["prompt_means", "n_prompts"] == 6
    category = out[(out.analysis == "category") & (out.measure == "kpe")].set_index("category")
    assert category.loc["a", "estimate"] == pytest.approx(values[prompts < 3].mean())
    assert category.loc["b", "n_samples"] == 12 and category.loc["b", "n_prompts"] == 3
    tested = out.p.notna()
    assert out.q[tested].notna().all() and out.q[~tested].isna().all()
