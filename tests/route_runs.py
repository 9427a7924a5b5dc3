"""Every raw route run of a loaded model at ``steps="auto"``: what the completeness tests check."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from ligsite.lig.completeness import RouteRun, run_route

RAW_RUNS = (("att", ("zero", "self_input_token")), ("mlp", ("zero", "att_itb_a0")),
            ("layer", ("zero", "self_input_token")))


def auto_runs(adapter, cache) -> Iterator[tuple[int, str, str, RouteRun]]:
    """(layer, granularity, baseline, run) for every block and raw run, all targets, tolerance 0.02."""
    targets = torch.arange(len(cache.input_ids))
    for layer in range(adapter.n_layers):
        block, z = adapter.block(layer), cache.z[layer]
        for granularity, baselines in RAW_RUNS:
            for baseline in baselines:
                yield layer, granularity, baseline, run_route(granularity, block, z, targets, baseline,
                                                              "gauss-legendre", "auto", 0.02)
