"""The IG core on plain torch functions with closed-form answers."""

from __future__ import annotations

import numpy as np
import torch

from ligsite.lig.ig import integrate, safe_norm
from ligsite.lig.quadrature import gauss_legendre, trapezoid_captum


def randn(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, dtype=torch.float64)


def _identity(path, context):
    return path[0]


def test_linear_function_attributes_each_coordinate_its_share_of_the_norm():
    x = randn(3, 5)
    start = randn(3, 5)
    result = integrate(_identity, (start,), (x,), *gauss_legendre(4))
    delta = x - start  # L(α) = α‖Δ‖, ∇L = Δ/‖Δ‖  ->  IG = Δ² / ‖Δ‖
    torch.testing.assert_close(result.attributions[0], delta**2 / delta.norm(dim=-1, keepdim=True))
    torch.testing.assert_close(result.value, delta.norm(dim=-1))


def test_square_from_zero_matches_closed_form():
    x = randn(4, 6)
    square = lambda path, context: path[0] ** 2  # noqa: E731  L(α) = α²‖x²‖
    result = integrate(square, (torch.zeros_like(x),), (x,), *gauss_legendre(3))
    expected = x**4 / (x**2).norm(dim=-1, keepdim=True)  # x ⊙ ∫ 2α x ⊙ x²/‖x²‖ dα
    torch.testing.assert_close(result.attributions[0], expected)
    torch.testing.assert_close(result.attributions[0].sum(-1), result.value)


def test_extra_axes_get_their_own_norm_and_gradient_in_one_backward():
    w = randn(3, 4, 4)  # one small map per head
    fn = lambda path, context: torch.tanh(torch.einsum("bnhd,hde->bnhe", path[0], w))  # noqa: E731
    x, start = randn(2, 3, 4), randn(2, 3, 4)
    together = integrate(fn, (start,), (x,), *gauss_legendre(6))
    for h in range(3):
        one = lambda path, context, h=h: torch.tanh(path[0] @ w[h])  # noqa: E731
        alone = integrate(one, (start[:, h],), (x[:, h],), *gauss_legendre(6))
        torch.testing.assert_close(together.attributions[0][:, h], alone.attributions[0])
        torch.testing.assert_close(together.value[:, h], alone.value)


def test_context_is_passed_per_row_and_chunking_changes_nothing():
    fn = lambda path, context: torch.sin(path[0] * context[0].unsqueeze(1))  # noqa: E731
    x, scale = randn(7, 5), randn(7, 5)
    whole = integrate(fn, (torch.zeros_like(x),), (x,), *gauss_legendre(5), context=(scale,))
    chunked = integrate(fn, (torch.zeros_like(x),), (x,), *gauss_legendre(5), context=(scale,),
                        memory_bytes=1)
    torch.testing.assert_close(whole.attributions[0], chunked.attributions[0])
    torch.testing.assert_close(whole.value, chunked.value)


def test_row_with_nothing_to_attribute_gives_exact_zeros_not_nan():
    x = randn(2, 4)
    start = x.clone()
    start[1] = 0.0  # row 0: start == end, so fn(x(α)) == fn(start) at every node
    result = integrate(_identity, (start,), (x,), *gauss_legendre(4))
    assert torch.equal(result.attributions[0][0], torch.zeros(4, dtype=torch.float64))
    assert result.value[0] == 0.0
    assert torch.isfinite(result.attributions[0]).all()


def test_safe_norm_has_zero_gradient_at_zero():
    diff = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(safe_norm(diff), diff)
    assert torch.equal(grad, torch.zeros(3, dtype=torch.float64))


def test_trapezoid_node_at_alpha_zero_contributes_nothing():
    x = randn(3, 4)
    nodes, weights = trapezoid_captum(5)
    result = integrate(_identity, (torch.zeros_like(x),), (x,), nodes, weights)
    expected = x**2 / x.norm(dim=-1, keepdim=True) * float(weights[1:].sum())
    torch.testing.assert_close(result.attributions[0], expected)
    assert np.isclose(float(weights[1:].sum()), 4 / 5 - 1 / 10)


def _runs_out_of_memory_above(rows: int, calls: list[int]):
    """Fault injection: a boundary function whose forward raises CUDA's out-of-memory error
    whenever its batch has more than ``rows`` rows, as an allocator would (sizes recorded)."""

    def fn(path, context):
        calls.append(path[0].shape[0])
        if path[0].shape[0] > rows:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (simulated)")
        return torch.sin(path[0] * context[0].unsqueeze(1))

    return fn


def test_out_of_memory_halves_the_chunk_gives_the_same_numbers_and_is_said_once():
    import warnings

    from ligsite.lig.ig import MemoryRetryWarning, say_memory_retry

    say_memory_retry.cache_clear()  # a fresh "process" for the once-only message
    x, scale = randn(13, 5), randn(13, 5)
    reference = integrate(lambda p, c: torch.sin(p[0] * c[0].unsqueeze(1)), (torch.zeros_like(x),), (x,),
                          *gauss_legendre(6), context=(scale,))
    calls: list[int] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):  # two calls, both halving from 13 rows down to 3: one message in all
            retried = integrate(_runs_out_of_memory_above(3, calls), (torch.zeros_like(x),), (x,),
                                *gauss_legendre(6), context=(scale,))
            torch.testing.assert_close(retried.attributions[0], reference.attributions[0], rtol=0, atol=0)
            torch.testing.assert_close(retried.value, reference.value, rtol=0, atol=0)
    said = [w for w in caught if issubclass(w.category, MemoryRetryWarning)]
    assert len(said) == 1 and "halving the chunk" in str(said[0].message)
    assert calls[:3] == [13, 6, 3]  # 13 -> 6 -> 3 rows, then chunks of 3
    assert sum(c for c in calls if c <= 3) == 2 * 2 * 13  # every row once per run (ends + path calls)


def test_out_of_memory_on_one_row_says_what_to_change():
    import pytest

    from ligsite.errors import ComputeFailed

    x = randn(4, 5)
    with pytest.raises(ComputeFailed, match="single IG row.*fewer --steps") as raised:
        integrate(_runs_out_of_memory_above(0, []), (torch.zeros_like(x),), (x,), *gauss_legendre(4),
                  context=(x,))
    assert isinstance(raised.value.__cause__, torch.cuda.OutOfMemoryError)


def test_gated_node_at_alpha_zero_contributes_nothing_even_off_the_reference_by_rounding():
    """integrate_gated evaluates the ends apart from the nodes, so a node at α = 0 may differ from
    the start by rounding; on the norm's kink that would be a unit vector of noise. Its term is 0."""
    from ligsite.lig.ig import integrate_gated

    x, noise = randn(3, 5), randn(3, 5)
    nodes, weights = trapezoid_captum(5)  # nodes 0, 0.25, ..., 1
    alpha = torch.as_tensor(nodes)[None, :, None]  # [1, n, 1]
    at_zero = torch.as_tensor(nodes == 0)[None, :, None]

    def fn(gates):  # the path α x read through one scalar gate per (row, node), node 0 off by 1e-13
        (g,) = gates  # [B, n]
        return (alpha + g[..., None]) * x[:, None] + 1e-13 * at_zero * noise[:, None]

    ends = torch.stack((torch.zeros_like(x), x), 1)  # [B, 2, D]
    result = integrate_gated(fn, (torch.zeros(3, len(nodes), dtype=x.dtype),), nodes, weights, ends)
    expected = weights[nodes > 0].sum() * x.norm(dim=-1)  # dL/dg = ‖x‖ at every node α > 0
    torch.testing.assert_close(result.attributions[0], expected, rtol=1e-12, atol=0)
    torch.testing.assert_close(result.value, x.norm(dim=-1))
