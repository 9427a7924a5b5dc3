"""The summary's worst-completeness figure: measured against what the quadrature rule can reach."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ligsite.explanation import Explanation, Run
from ligsite.pipeline import summary_table
from ligsite.precompute import ComputeReport, worst_completeness


def explanation(quadrature: str, layer_ratios: list[float], att_ratios: list[list[float]], steps: int) -> Explanation:
    """One layer, 3 tokens, a layer run and a 2-head att run with the given completeness ratios."""
    t = 3
    layer = Run(np.zeros((1, t, t)), np.ones((1, t)), np.array([layer_ratios]), np.full((1, t), steps))
    att = Run(np.zeros((1, 2, t, t)), np.ones((1, 2, t)), np.array([att_ratios]), np.full((1, t), steps))
    return Explanation(
        text="The cat.", tokens=["[CLS]", "cat", "[SEP]"], word_ids=[None, 0, None], model="tiny",
        model_identity="tiny@x", model_type="bert", n_heads=2, layers=[4], targets=[0, 1, 2],
        steps=steps, quadrature=quadrature, dtype="float32", tolerance=0.02,
        baselines={"layer": ["zero"], "att": ["zero"]}, runs={"layer:zero": layer, "att:zero": att},
    )


def test_worst_is_the_largest_distance_from_one_and_names_where() -> None:
    exp = explanation("gauss-legendre", [1.0, 0.97, np.nan], [[1.0, 1.01, 1.0], [1.0, 1.0, 1.08]], 32)
    worst, where = worst_completeness({"abc": exp})
    assert np.isclose(worst, 0.08) and where == "abc att:zero layer 4 head 1 target 2"


def test_trapezoid_ratios_are_measured_against_n_minus_one_over_n() -> None:
    n = 8
    built_in = (n - 1) / n  # the rule's weights sum to this: a perfect trapezoid ratio
    exp = explanation("trapezoid-captum", [built_in, built_in + 0.01, built_in], [[built_in] * 3, [built_in] * 3], n)
    worst, where = worst_completeness({"abc": exp})
    assert np.isclose(worst, 0.01) and where == "abc layer:zero layer 4 target 1"
    gauss = replace(exp, quadrature="gauss-legendre")  # the same numbers are 1/8 off under Gauss-Legendre
    assert np.isclose(worst_completeness({"abc": gauss})[0], 1 / n)  # 1 - built_in


def test_summary_table_says_what_the_worst_ratio_is_measured_against() -> None:
    from rich.console import Console

    report = ComputeReport(samples=1, computed=1, cache_hits=0, tokens=3, seconds=1.0,
                           worst_completeness=0.01, worst_where="abc layer:zero layer 4 target 1",
                           quadrature="trapezoid-captum")
    console = Console(width=120, record=True)
    console.print(summary_table(report))
    assert "|ratio − (n−1)/n| = 0.0100 (abc layer:zero layer 4 target 1)" in console.export_text()
    console = Console(width=120, record=True)
    console.print(summary_table(replace(report, quadrature="gauss-legendre")))
    assert "|ratio − 1| = 0.0100" in console.export_text()
