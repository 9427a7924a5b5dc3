"""Several sentences in one batched IG call give each sentence's batch-1 numbers.

Sentences of different lengths are right-padded into one batch with masked keys
(``ligsite.lig.batch``); every route and raw baseline, the projection-space fast path and the
plain input path, fixed steps and ``steps="auto"`` (node doubling per target) must equal the
same sentence explained alone: to 1e-6 in float32 (rounding: other matmul shapes) and to 1e-12
in float64 (the same math).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ligsite.api import explain, explain_many
from ligsite.config import BuildConfig
from ligsite.executors import Engine, Failure, explain_samples, per_call
from ligsite.lig import routes
from ligsite.lig.batch import Padded, groups, pad, shares_calls, split
from ligsite.lig.completeness import run_route
from ligsite.lig.quadrature import rule
from ligsite.models.loading import load
from ligsite.samples import Sample

TEXTS = ["the cat sat on the mat today", "a dog", "rain falls on the quiet sea all night long"]
RAW = [("att", "zero"), ("att", "self_input_token"), ("mlp", "zero"), ("mlp", "att_itb_a0"),
       ("layer", "zero"), ("layer", "self_input_token")]
ROUTES = {"att": routes.att_route, "mlp": routes.mlp_route, "layer": routes.layer_route}
pytestmark = [pytest.mark.filterwarnings("ignore::ligsite.api.CompletenessWarning"),
              pytest.mark.usefixtures("one_thread")]


@pytest.fixture(scope="module")
def bert32(tiny_model_dir):
    return load(str(tiny_model_dir("bert")), "cpu", "float32")


def _padded_batch(adapter, layer: int, dtype=torch.float32):
    """(block, [z_s], padded z, targets, Padded) for every token of TEXTS at ``layer``."""
    inputs = [adapter.forward(adapter.tokenize(text).input_ids).z[layer].to(dtype) for text in TEXTS]
    z, padding = pad(inputs)
    targets = torch.cat([torch.arange(len(x)) for x in inputs])
    rows = torch.cat([torch.full((len(x),), s) for s, x in enumerate(inputs)])
    return adapter.block(layer, dtype), inputs, z, targets, Padded(rows, padding)


def _relative(batched: torch.Tensor, alone: torch.Tensor) -> float:
    return float((batched - alone).norm() / alone.norm())


@pytest.mark.parametrize("steps", [6, "auto"])
@pytest.mark.parametrize("granularity,baseline", RAW)
def test_shared_call_equals_each_sentence_alone_on_the_fast_path(bert32, granularity, baseline, steps):
    for layer in (0, 1):
        block, inputs, z, targets, batch = _padded_batch(bert32, layer)
        shared = run_route(granularity, block, z, targets, baseline, "gauss-legendre", steps, 0.02, batch)
        lengths = [len(x) for x in inputs]
        source_axis = None if granularity == "mlp" else 1
        for s, (x, scores, value, n) in enumerate(zip(inputs, split(shared.scores, batch.rows, lengths, source_axis),
                                                        split(shared.value, batch.rows, lengths, None),
                                                        split(shared.steps, batch.rows, lengths, None))):
            alone = run_route(granularity, block, x, torch.arange(len(x)), baseline, "gauss-legendre", steps, 0.02)
            assert _relative(scores, alone.scores) < 1e-6 and _relative(value, alone.value) < 1e-6, (layer, s)
            assert torch.equal(n, alone.steps)


@pytest.mark.parametrize("granularity,baseline", RAW)
def test_shared_call_equals_each_sentence_alone_on_the_plain_path_and_padding_gets_exact_zeros(
        tiny_model_dir, granularity, baseline):
    adapter = load(str(tiny_model_dir("bert")), "cpu", "float64")
    block, inputs, z, targets, batch = _padded_batch(adapter, 1, torch.float64)
    nodes, weights = rule("gauss-legendre", 5)
    scores, value = ROUTES[granularity](block, z, targets, baseline, nodes, weights, fast=False, batch=batch)
    for s, x in enumerate(inputs):
        mine = batch.rows == s
        alone, alone_value = ROUTES[granularity](block, x, torch.arange(len(x)), baseline, nodes, weights, fast=False)
        if granularity != "mlp":  # [J, T_src(, H)]: the padded sources hold exact zeros
            assert torch.equal(scores[mine][:, len(x):], torch.zeros_like(scores[mine][:, len(x):]))
        kept = scores[mine] if granularity == "mlp" else scores[mine][:, :len(x)]
        assert _relative(kept, alone) < 1e-12 and _relative(value[mine], alone_value) < 1e-12


def test_auto_doubles_per_target_as_each_sentence_does_alone(bert32):
    """trapezoid-captum misses on some targets at 32 nodes: each keeps the node count it gets alone
    (and is judged against its own count's (n-1)/n, not the last round's)."""
    block, inputs, z, targets, batch = _padded_batch(bert32, 1)
    shared = run_route("att", block, z, targets, "self_input_token", "trapezoid-captum", "auto", 0.02, batch)
    alone = [run_route("att", block, x, torch.arange(len(x)), "self_input_token", "trapezoid-captum", "auto", 0.02)
             for x in inputs]
    assert torch.equal(shared.steps, torch.cat([a.steps for a in alone]))
    assert len(set(shared.steps.tolist())) > 1  # some doubled, some did not
    for s, a in enumerate(alone):
        assert _relative(shared.scores[batch.rows == s][:, :len(inputs[s])], a.scores) < 1e-6


def test_explain_many_equals_explain_for_each_text_in_float32(bert32):
    texts = [TEXTS[2], TEXTS[1], TEXTS[0], "tea"]
    many = explain_many(texts, model=bert32, steps="auto", batch_size=4)
    assert [e.text for e in many] == texts
    for batched, text in zip(many, texts):
        alone = explain(text, model=bert32, steps="auto")
        assert batched.tokens == alone.tokens and batched.runs.keys() == alone.runs.keys()
        for key, run in batched.runs.items():
            np.testing.assert_allclose(run.scores, alone.runs[key].scores, rtol=1e-6, atol=1e-6, equal_nan=True)
            np.testing.assert_allclose(run.completeness, alone.runs[key].completeness, rtol=1e-6, equal_nan=True)
            np.testing.assert_array_equal(run.steps, alone.runs[key].steps)
        np.testing.assert_array_equal(batched.self_probs, alone.self_probs)


@pytest.mark.parametrize("family", ["mpnet", "gpt2"])
def test_families_whose_blocks_hold_sentence_constants_run_alone_with_the_same_numbers(tiny_model_dir, family):
    adapter = load(str(tiny_model_dir(family)), "cpu", "float32")
    many = explain_many(TEXTS[:2], model=adapter, steps=4, layers=[1])
    for batched, text in zip(many, TEXTS[:2]):
        alone = explain(text, model=adapter, steps=4, layers=[1])
        for key, run in batched.runs.items():
            np.testing.assert_array_equal(run.scores, alone.runs[key].scores)


@pytest.mark.parametrize("family,shares", [("bert", True), ("distilbert", True), ("albert", True),
                                           ("mpnet", False), ("gpt2", False), ("deberta-v2", False)])
def test_only_blocks_that_are_one_function_for_every_sentence_share_calls(tiny_model_dir, family, shares):
    adapter = load(str(tiny_model_dir(family)), "cpu", "float32")
    adapter.forward(adapter.tokenize("a dog").input_ids)  # replayed families need a recorded call
    assert shares_calls(adapter.block(0)) is shares


@pytest.mark.parametrize("family,shares", [("bert", True), ("mpnet", False), ("deberta-v2", False), ("gpt2", False)])
def test_grouping_asks_the_blocks_before_any_forward(tiny_model_dir, family, shares):
    from ligsite.runs import groups_for

    adapter = load(str(tiny_model_dir(family)), "cpu", "float32")  # fresh: no recorded call yet
    grouped = groups_for(adapter, [0], [5, 4], [[0], [1]], torch.float32, 4, 2)
    assert grouped == ([[1, 0]] if shares else [[0], [1]])


def test_a_block_class_that_does_not_say_does_not_share():
    class Plain:
        affine_project, granularities = True, ("att", "mlp", "layer")

    assert shares_calls(Plain()) is False


def test_a_padded_batch_on_a_block_that_cannot_share_is_refused(tiny_model_dir):
    from ligsite.errors import InputError

    adapter = load(str(tiny_model_dir("mpnet")), "cpu", "float32")
    block, _, z, targets, batch = _padded_batch(adapter, 0)
    with pytest.raises(InputError, match="cannot share IG calls"):
        routes.layer_route(block, z, targets, "zero", *rule("gauss-legendre", 4), batch=batch)


def test_groups_sort_by_length_and_stop_at_the_budget_and_the_cap():
    lengths = [9, 3, 5, 3, 12]
    cost = lambda targets, sentences, longest: targets * longest  # noqa: E731  bytes of one call
    assert groups(lengths, lengths, cost, budget=10**6, most=64) == [[1, 3, 2, 0, 4]]
    assert groups(lengths, lengths, cost, budget=10**6, most=2) == [[1, 3], [2, 0], [4]]
    assert groups(lengths, lengths, cost, budget=100, most=64) == [[1, 3, 2], [0], [4]]  # 11 x 5 = 55; 20 x 9 = 180
    assert groups([500], [500], cost, budget=10, most=64) == [[0]]  # too big alone: one group, the IG core chunks it
    # one target each (explain_many(texts, targets=[0])): still sorted by token length, costed at the longest
    assert groups(lengths, [1] * 5, cost, budget=10**6, most=64) == [[1, 3, 2, 0, 4]]
    assert groups(lengths, [1] * 5, cost, budget=24, most=64) == [[1, 3, 2], [0, 4]]  # 3 x 5 = 15; 4 x 9 = 36; 2 x 12 = 24


def test_a_groups_bytes_count_its_targets_at_the_longest_token_length_and_the_set_up(bert32, monkeypatch):
    """One target per text: the cost of a group is its target count times one target's bytes at
    the longest sentence (not at length 1), with the set-up tables [T, H, d] x 4 per target and
    the real attention [H, T, T] x 2 per sentence."""
    from ligsite import runs

    h, d, hidden, n, size = bert32.n_heads, bert32.head_dim, bert32.hidden_size, 4, 4
    t = 200
    path, setup = (2 * t * h + h + hidden) * n * size * 12, 4 * t * h * d * size  # one target's bytes at T = 200
    attention = 2 * h * t * t * size  # one sentence's
    lengths, targets = [t, 7, t, 9, t, t], [[0]] * 6
    pair = 2 * (path + setup + attention)
    monkeypatch.setattr(runs, "memory_budget", lambda device: int(1.2 * pair))
    assert runs.groups_for(bert32, [0], lengths, targets, torch.float32, n, 64) == [[1, 3], [0, 2], [4, 5]]
    for short in (setup, attention):  # two of everything but one of the set-up or of the attention
        monkeypatch.setattr(runs, "memory_budget", lambda device: pair - short)  # noqa: B023
        assert runs.groups_for(bert32, [0], lengths, targets, torch.float32, n, 64) == [[1, 3], [0], [2], [4], [5]]


def test_per_call_keeps_short_runs_streaming_and_honours_batch_size():
    auto = BuildConfig()
    assert [per_call(auto, n, gpus=1) for n in (1, 6, 12, 40, 1000)] == [1, 1, 3, 10, 16]
    assert per_call(auto, 1000, workers=4, gpus=4) == 16 and per_call(BuildConfig(batch_size=3), 10, workers=8) == 2
    assert per_call(BuildConfig(batch_size=5), 100) == 5
    assert per_call(auto, 1000) == 1 and per_call(BuildConfig(device="cpu"), 1000, gpus=1) == 1  # CPUs: one at a time


def test_a_sample_the_engine_refuses_fails_alone_and_the_others_keep_their_numbers(tiny_model_dir):
    config = BuildConfig(model=str(tiny_model_dir("bert")), steps=4, layers=(0,), device="cpu", batch_size=4)
    engine = Engine(config)
    long = " ".join(["word"] * 400)  # more tokens than the position table holds
    samples = [Sample(id=f"s{n}", text=text, line=n + 1) for n, text in enumerate([TEXTS[0], long, TEXTS[1]])]
    outcomes = explain_samples(engine, samples)
    assert isinstance(outcomes[1], Failure) and "s1" in str(outcomes[1])
    for outcome, sample in zip((outcomes[0], outcomes[2]), (samples[0], samples[2])):
        alone = engine.explain(sample.text)
        for key, run in outcome.runs.items():
            np.testing.assert_allclose(run.scores, alone.runs[key].scores, rtol=1e-6, atol=1e-6, equal_nan=True)


def test_auto_runs_one_sentence_at_a_time_on_a_cpu_and_a_given_batch_size_shares(bert32):
    """Measured: a MiniLM-shaped call is compute-bound on a CPU already (0.7-0.9x shared), so
    ``auto`` shares on CUDA only; a CPU's numbers then never depend on which samples ran together."""
    from ligsite.runs import groups_for

    targets = [list(range(14))] * 8
    assert groups_for(bert32, [0], [14] * 8, targets, torch.float32, 32, "auto") == [[s] for s in range(8)]
    assert groups_for(bert32, [0], [14] * 8, targets, torch.float32, 32, 4) == [[0, 1, 2, 3], [4, 5, 6, 7]]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_shared_calls_on_cuda_agree_with_batch_1_within_the_kernels_own_spread(tiny_model_dir):
    """On CUDA, batch 1 run twice differs by the kernels' nondeterminism; shared calls must agree
    with batch 1 to that spread (printed: the figure the docs quote), and to 1e-5 in any case."""
    adapter = load(str(tiny_model_dir("bert")), "cuda", "float32")
    texts = TEXTS + ["tea", "a much longer sentence about owls, jazz, figs and moss in the snow"]
    alone = [explain(text, model=adapter, steps=16) for text in texts]
    again = [explain(text, model=adapter, steps=16) for text in texts]
    shared = explain_many(texts, model=adapter, steps=16, batch_size=len(texts))

    def spread(left, right) -> float:
        return max(float(np.nanmax(np.abs(a.runs[k].scores - b.runs[k].scores)) / np.nanmax(np.abs(b.runs[k].scores)))
                   for a, b in zip(left, right) for k in a.runs)

    repeat, batched = spread(again, alone), spread(shared, alone)
    print(f"CUDA: batch 1 run twice {repeat:.1e}, shared vs batch 1 {batched:.1e} (max |diff| / max |score|)")
    assert batched < 1e-5


def test_cuda_out_of_memory_in_a_shared_calls_set_up_reruns_the_samples_alone(tiny_model_dir, monkeypatch):
    """Fault injection: the padded batch's set-up (``_projected_ends`` builds [J, T, H, d] tables
    for the whole group, before the IG core's halving loop) runs out of CUDA memory whenever it
    gets more than one sentence; each sample is rerun alone, with its batch-1 numbers."""
    config = BuildConfig(model=str(tiny_model_dir("bert")), steps=4, layers=(0,), device="cpu", batch_size=3)
    engine = Engine(config)
    samples = [Sample(id=f"s{n}", text=text, line=n + 1) for n, text in enumerate(TEXTS)]
    alone = [engine.explain(text) for text in TEXTS]
    real = routes._projected_ends

    def short_of_memory(block, z, targets, baseline, batch=None):
        if batch is not None and len(batch.rows.unique()) > 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(block, z, targets, baseline, batch)

    monkeypatch.setattr(routes, "_projected_ends", short_of_memory)
    outcomes = explain_samples(engine, samples)
    for outcome, expected in zip(outcomes, alone, strict=True):
        assert not isinstance(outcome, Failure) and outcome.runs.keys() == expected.runs.keys()
        for key, run in outcome.runs.items():
            np.testing.assert_array_equal(run.scores, expected.runs[key].scores)


def test_cuda_out_of_memory_on_one_sample_alone_is_its_failure_not_a_traceback(tiny_model_dir, monkeypatch):
    engine = Engine(BuildConfig(model=str(tiny_model_dir("bert")), steps=4, layers=(0,), device="cpu", batch_size=2))

    def short_of_memory(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 9.00 GiB")

    monkeypatch.setattr(routes, "_projected_ends", short_of_memory)
    outcomes = explain_samples(engine, [Sample(id="s0", text=TEXTS[0], line=1), Sample(id="s1", text=TEXTS[1], line=2)])
    assert all(isinstance(o, Failure) for o in outcomes)
    assert "CUDA ran out of memory on this sample even alone" in str(outcomes[1]) and "s1" in str(outcomes[1])


def test_non_finite_values_in_a_shared_call_name_the_text_they_came_from(bert32, monkeypatch):
    from ligsite import runs
    from ligsite.errors import NumericalError

    real = runs.run_route

    def poisoned(granularity, block, z, targets, baseline, quadrature, steps, tolerance, batch=None):
        result = real(granularity, block, z, targets, baseline, quadrature, steps, tolerance, batch)
        result.scores[batch.rows == 2] = float("nan")  # the group (sorted by length) is TEXTS[1], [0], [2]
        return result

    monkeypatch.setattr(runs, "run_route", poisoned)
    with pytest.raises(NumericalError, match="the text 'rain falls on the quiet sea all night l…'"):
        explain_many(TEXTS, model=bert32, steps=4, layers=[0], batch_size=3)
