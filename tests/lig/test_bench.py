"""The benchmark's literal strategies compute the same numbers as the engine it is timed against.

Speed-ups only mean something if the original's strategy (all nodes of one target in one batch)
and the plain loop (one grad per node) answer the same question as the engine's routes.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ligsite.bench import RUNS, time_literal
from ligsite.lig.completeness import ROUTES, nodes_for
from ligsite.models.loading import load

TEXT = "the cat sat on mats"


@pytest.fixture(scope="module", params=["bert", "llama"])
def block_and_z(request, tiny_model_dir):
    adapter = load(str(tiny_model_dir(request.param)), "cpu", "float64")
    z = adapter.forward(adapter.tokenize(TEXT).input_ids).z[1]  # [T, D]
    return adapter.block(1), z


def _as_route_scores(outs: torch.Tensor, granularity: str, t: int, h: int) -> torch.Tensor:
    """Literal attributions per (target[, head]) reshaped like the route's scores."""
    if granularity == "layer":
        return outs.sum(-1)  # [J, T_src]
    if granularity == "att":  # pairs (j, h) in order: [J*H, T, D] -> [J, T_src, H]
        return outs.sum(-1).view(t, h, t).transpose(1, 2)
    return outs.view(t, h, -1).sum(-1)  # mlp: [J, H*d] -> [J, H]


@pytest.mark.parametrize(("granularity", "baseline"), RUNS)
@pytest.mark.parametrize("batched", [True, False], ids=["original", "plain"])
def test_literal_strategies_equal_the_engine(block_and_z, granularity, baseline, batched):
    block, z = block_and_z
    t = z.shape[0]
    nodes, weights = nodes_for(granularity, block, z, baseline, "gauss-legendre", 4)
    engine, _ = ROUTES[granularity][0](block, z, torch.arange(t), baseline, nodes, weights)
    seconds, cut, outs = time_literal(block, z, granularity, baseline, nodes, weights, batched, 1e9)
    assert not cut and seconds > 0
    literal = _as_route_scores(outs, granularity, t, block.n_heads)
    err = np.linalg.norm((literal - engine).numpy()) / np.linalg.norm(engine.numpy())
    assert err < 1e-9, f"{granularity}:{baseline} relative difference {err:.2e}"


def test_batching_bench_counts_matmul_flops_and_prints_a_row_per_setting(capsys):
    from ligsite.bench_batching import MatmulFlops, bench_batching

    a, b = torch.randn(8, 16), torch.randn(16, 4)
    with MatmulFlops() as counter:
        a @ b
    assert counter.total == 2 * 8 * 16 * 4
    bench_batching("cpu", ["tiny"], [8], 4, 2, "auto", 1)
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("tiny")]
    assert len(rows) == 1 and rows[0].split()[1:3] == ["8", "4"] and rows[0].split()[5].endswith("x")
