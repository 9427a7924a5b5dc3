"""``python -m ligsite.bench``: the engine against the original's strategy and a plain loop.

On all-MiniLM-L6-v2 (CPU unless --device), for a ~12- and a ~40-token sentence, one block,
every granularity and raw baseline (ratio variants are post-processing, timed apart). With
``--family llama`` (or ``gpt2``) on one random block built from a config (no download): D = 256,
8 heads, 4 key/value heads (Llama), head_dim 32, FFN 688, residual rms ≈ 3, random token ids
of T = 32 and 48 (``--lengths``). ``--family bert|albert|deberta|mpnet`` does the same for one
random post-LN encoder block (D = 256, 8 heads, FFN 1024; ALBERT's embeddings 128 wide; DeBERTa in
v3's layout: relative c2p|p2c, 256 buckets, shared keys), so the projection-space path of the
families is timed against BERT's in the same shape:

- engine:   ``ligsite.lig`` routes (projection-space paths, row-j-only FFN, all targets/heads
            batched);
- original: per target (att: per target and head) all nodes in one batch through the whole
            boundary function, autograd back to z;
- plain:    one ``torch.autograd.grad`` per target (and head) and node; timed on a subset of
            targets and extrapolated when slow (the output says so).

``--batching`` (``ligsite/bench_batching.py``) times whole sentences instead: batch 1 against
several sentences sharing IG calls, on random tiny, MiniLM-, BERT-base- and Llama-shaped models.

FLOP counts are those of the literal definition (the original's work); "GFLOP/s" divides them
by each strategy's time, next to a plain float32 matmul measured in the same run.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from ligsite import bench_batching as batching
from ligsite.lig.completeness import ROUTES, nodes_for
from ligsite.lig.ratios import itb_map_ratio, itb_zero_ratio
from ligsite.models.loading import DEFAULT_MODEL, load

SENTENCES = {
    12: "The old man quietly fed the pigeons in the park.",
    40: ("In the late afternoon, after the long meeting about budgets, hiring and the new office "
         "had finally ended, the tired engineers walked slowly to the small cafe across the busy "
         "street for coffee."),
}
RUNS = [("att", "zero"), ("att", "self_input_token"), ("mlp", "zero"), ("mlp", "att_itb_a0"),
        ("layer", "zero"), ("layer", "self_input_token")]


def matmul_gflops(device: torch.device, size: int = 1024, repeat: int = 10, rounds: int = 5) -> float:
    """Achieved GFLOP/s of a plain float32 matmul on this machine, now (best of ``rounds``)."""
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    a @ b
    best = float("inf")
    for _ in range(rounds):
        _sync(device)
        start = time.perf_counter()
        for _ in range(repeat):
            a @ b
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 * repeat / best / 1e9


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _timed(fn: Callable[[], object], device: torch.device) -> float:
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def boundary_fn(block, z: Tensor, granularity: str, j: int, head: int) -> Callable[[Tensor], Tensor]:
    """The literal boundary function of target j (att: and head) on a batch of inputs."""
    positions = torch.arange(z.shape[0], device=z.device)
    if granularity == "layer":
        return lambda x: block.layer(x)[..., j, :]
    if granularity == "att":
        return lambda x: block.attend(*block.project(x), positions.expand(*x.shape[:-2], -1))[..., j, head, :]
    return lambda u: block.finish(u, z[j].expand(*u.shape[:-1], -1))


def path_ends(block, z: Tensor, granularity: str, baseline: str, j: int) -> tuple[Tensor, Tensor]:
    """(start, end) of target j's path in the boundary function's input space."""
    if granularity != "mlp":
        start = torch.zeros_like(z) if baseline == "zero" else z[j].expand_as(z)
        return start, z
    q, k, v = block.project(z)
    u = block.attend(q, k, v, torch.arange(z.shape[0], device=z.device))[j].flatten()
    return (v[j].flatten() if baseline == "att_itb_a0" else torch.zeros_like(u)), u


def literal_ig(f: Callable[[Tensor], Tensor], start: Tensor, end: Tensor, nodes: np.ndarray,
               weights: np.ndarray, batched: bool) -> Tensor:
    """IG of ‖f(x(α)) − f(start)‖: all nodes in one batch (original) or one grad per node (plain)."""
    reference = f(start.unsqueeze(0)).detach()[0]
    alpha = torch.as_tensor(nodes, dtype=end.dtype, device=end.device)
    weight = torch.as_tensor(weights, dtype=end.dtype, device=end.device)
    shape = (-1,) + (1,) * end.dim()
    if batched:
        x = (start + alpha.view(shape) * (end - start)).requires_grad_(True)  # [n, ...]
        loss = ((f(x) - reference).norm(dim=-1) * weight).sum()
        (grad,) = torch.autograd.grad(loss, x)
        return (end - start) * grad.sum(0)
    total = torch.zeros_like(end)
    for a, w in zip(alpha, weight):
        x = (start + a * (end - start)).unsqueeze(0).requires_grad_(True)
        (grad,) = torch.autograd.grad((f(x) - reference).norm(), x)
        total += w * grad[0]
    return (end - start) * total


def time_literal(block, z: Tensor, granularity: str, baseline: str, nodes, weights, batched: bool,
                 budget_s: float) -> tuple[float, bool, Tensor | None]:
    """Seconds for every (target[, head]) pair; extrapolated from a prefix when over budget."""
    heads = block.n_heads if granularity == "att" else 1
    pairs = [(j, h) for j in range(z.shape[0]) for h in range(heads)]
    spent, outs = 0.0, []
    for done, (j, h) in enumerate(pairs, start=1):
        start, end = path_ends(block, z, granularity, baseline, j)
        f = boundary_fn(block, z, granularity, j, h)
        t0 = time.perf_counter()
        outs.append(literal_ig(f, start, end, nodes, weights, batched))
        spent += time.perf_counter() - t0
        if spent > budget_s and done < len(pairs):
            return spent * len(pairs) / done, True, None
    return spent, False, torch.stack(outs)


def literal_flops(block, t: int, granularity: str, n: int, ffn_width: int | None = None) -> float:
    """FLOPs of the literal definition for all targets: forward + backward ≈ 3 x forward.

    Projections counted as D x D each (K/V narrower under GQA: an upper bound), the FFN as two
    (gated: three) D x ``ffn_width`` matmuls; default MiniLM's 4D, two matmuls.
    """
    d, h = block.hidden_size, block.n_heads
    ffn = 2 * d * 4 * d * 2 if ffn_width is None else 2 * d * ffn_width * 3
    per_row = {"layer": 2 * 4 * d * d + ffn + 4 * t * d, "att": 2 * 3 * d * d + 4 * t * d,
               "mlp": 2 * d * d + ffn}[granularity]
    rows = {"layer": t * n * t, "att": t * h * n * t, "mlp": t * n}[granularity]
    return 3.0 * per_row * rows


ENCODER_FAMILIES = ("bert", "albert", "deberta", "mpnet")


def _encoder_config(family: str):
    """One post-LN encoder block: D = 256, 8 heads, FFN 4D, 1000 ids, 130 positions."""
    import transformers as tf

    common = dict(vocab_size=1000, hidden_size=256, num_hidden_layers=1, num_attention_heads=8,
                  intermediate_size=1024, max_position_embeddings=130)
    if family == "albert":
        return tf.AlbertConfig(**common, embedding_size=128)
    if family == "deberta":  # DeBERTa-v3's layout
        return tf.DebertaV2Config(**common, relative_attention=True, pos_att_type="p2c|c2p", position_buckets=256,
                                  norm_rel_ebd="layer_norm", share_att_key=True, position_biased_input=False)
    return (tf.MPNetConfig if family == "mpnet" else tf.BertConfig)(**common)


def random_model(family: str, device: str):
    """One random block of the issue's shape, behind its adapter (no tokenizer, no download)."""
    import transformers as tf

    from ligsite.models.registry import adapter_class

    torch.manual_seed(0)
    if family in ENCODER_FAMILIES:
        config = _encoder_config(family)
    elif family == "gpt2":
        config = tf.GPT2Config(vocab_size=1000, n_embd=256, n_layer=1, n_head=8, n_inner=688, n_positions=128,
                               bos_token_id=0, eos_token_id=0)
    else:
        config = tf.LlamaConfig(vocab_size=1000, hidden_size=256, num_hidden_layers=1, num_attention_heads=8,
                                num_key_value_heads=4, head_dim=32, intermediate_size=688, max_position_embeddings=128)
    model = tf.AutoModel.from_config(config, attn_implementation="eager")
    with torch.no_grad():  # residual rms like a real model's (a random init's is ~0.02)
        embedding = model.get_input_embeddings().weight
        embedding.mul_(3.0 / embedding.pow(2).mean().sqrt())
    adapter = adapter_class(config.model_type)(model.to(device), None, f"random-{family}", "random", torch.float32)
    return adapter, config


def _inputs(adapter, length: int, family: str | None):
    """Token ids of a ~``length``-token sentence (MiniLM) or ``length`` random ids (decoders)."""
    if family is None:
        return adapter.tokenize(SENTENCES[length]).input_ids
    return torch.randint(0, 1000, (length,), generator=torch.Generator().manual_seed(length))


def bench(model: str, layer: int, steps: int, device: str, budget_s: float, lengths: list[int],
          family: str | None = None) -> None:
    adapter, config = random_model(family, device) if family else (load(model, device, "float32"), None)
    decoder = config is not None and family not in ENCODER_FAMILIES  # MiniLM, encoders: two 4D matmuls
    ffn_width = int(getattr(config, "intermediate_size", None) or config.n_inner) if decoder else None
    layer = 0 if family else layer
    dev = adapter.device
    rate = matmul_gflops(dev)
    print(f"model {adapter.name}, block {layer}, {steps} Gauss-Legendre nodes (log-placed on pre-norm zero "
          f"paths), float32, {dev}, {torch.get_num_threads()} threads; plain matmul: {rate:.1f} GFLOP/s")
    for length in lengths:
        ids = _inputs(adapter, length, family)
        z = adapter.forward(ids).z[layer]  # [T, D]
        block, t = adapter.block(layer), z.shape[0]
        targets = torch.arange(t, device=dev)
        print(f"\n{t} tokens  {'run':26s} {'engine s':>9s} {'original s':>11s} {'plain s':>10s} "
              f"{'x original':>10s} {'x plain':>9s} {'eff. GF/s':>11s} {'orig GF/s':>9s}")
        raw = {}
        for granularity, baseline in RUNS:
            route = ROUTES[granularity][0]
            nodes, weights = nodes_for(granularity, block, z, baseline, "gauss-legendre", steps)
            engine = min(_timed(lambda: raw.__setitem__((granularity, baseline), route(
                block, z, targets, baseline, nodes, weights)), dev) for _ in range(2))  # warm, best of 2
            original, cut, _ = time_literal(block, z, granularity, baseline, nodes, weights, True, budget_s)
            plain, extrapolated, _ = time_literal(block, z, granularity, baseline, nodes, weights, False, budget_s)
            flops = literal_flops(block, t, granularity, steps, ffn_width)
            marks = ["*" if x else " " for x in (cut, extrapolated)]
            print(f"{'':10s}{granularity + ':' + baseline:26s} {engine:9.3f} {original:10.3f}{marks[0]} {plain:9.2f}{marks[1]} "
                  f"{original / engine:10.1f} {plain / engine:9.1f} {flops / engine / 1e9:11.1f} {flops / original / 1e9:9.1f}")
        _post_processing(raw, adapter.forward(ids).attention[layer])
    print("\n* timed on a prefix of the (target, head) pairs and extrapolated (see --budget).")
    print("GF/s = FLOPs of the literal definition / time: the original's achieved rate, and for the "
          "engine an effective rate (it skips most of that work), to compare with the matmul.")


def _post_processing(raw: dict, attention: Tensor) -> None:
    """Ratio variants from the raw runs (numpy): they cost milliseconds, not IG runs."""
    itb = raw[("att", "self_input_token")][0].permute(2, 1, 0).cpu().numpy()  # [H, T_src, T_tgt]
    zero = raw[("att", "zero")][0].permute(2, 1, 0).cpu().numpy()
    probs = torch.diagonal(attention, dim1=-2, dim2=-1).cpu().numpy()
    start = time.perf_counter()
    itb_zero_ratio(itb, zero)
    itb_map_ratio(itb, probs)
    print(f"{'':10s}{'att ratio variants (both)':26s} {time.perf_counter() - start:9.4f}")


def sentence_scale(device: str, weights_dtype: str, length: int = 64, layers: int = 16, steps: int = 32) -> None:
    """Seconds per sentence on a Llama-3.2-1B-shaped random model (D 2048, 32 heads, 8 kv heads,
    FFN 8192): every route and raw baseline of every block, as ``ligsite build`` computes them
    (ratio variants and composition are post-processing), with the matmul rates of this device."""
    import transformers as tf

    from ligsite.lig.completeness import run_route
    from ligsite.models.loading import resolve_device, weights_dtype_for
    from ligsite.models.registry import adapter_class

    where = resolve_device(device)
    config = tf.LlamaConfig(vocab_size=1000, hidden_size=2048, num_hidden_layers=layers, num_attention_heads=32,
                            num_key_value_heads=8, head_dim=64, intermediate_size=8192, max_position_embeddings=256)
    torch.manual_seed(0)
    model = tf.AutoModel.from_config(config, attn_implementation="eager")
    with torch.no_grad():
        embedding = model.get_input_embeddings().weight
        embedding.mul_(3.0 / embedding.pow(2).mean().sqrt())
    model = model.to(where, weights_dtype_for(weights_dtype, where, torch.bfloat16, torch.float32))
    adapter = adapter_class("llama")(model, None, "random-llama-1b", "random", torch.float32)
    ids = torch.randint(0, 1000, (length,), generator=torch.Generator().manual_seed(length))
    rates = {str(d).removeprefix("torch."): _matmul_rate(where, d) for d in (torch.float32, torch.bfloat16)}
    _sync(where)
    start = time.perf_counter()
    cache = adapter.forward(ids)
    targets = torch.arange(length, device=where)
    for layer in range(layers):
        block = adapter.block(layer)
        for granularity, baseline in RUNS:
            run_route(granularity, block, cache.z[layer], targets, baseline, "gauss-legendre", steps, 0.02)
    _sync(where)
    seconds = time.perf_counter() - start
    print(f"Llama-3.2-1B-shaped random model, {layers} blocks, T = {length}, {steps} nodes, weights "
          f"{next(model.parameters()).dtype}, IG float32, {where}: {seconds:.1f} s per sentence (every route and "
          f"raw baseline of every block); matmul GFLOP/s: " + ", ".join(f"{k} {v:.0f}" for k, v in rates.items()))


def _matmul_rate(device: torch.device, dtype: torch.dtype, size: int = 4096) -> float:
    """Achieved GFLOP/s of a square matmul in ``dtype`` (best of 5 rounds of 5)."""
    size = size if device.type == "cuda" else 1024
    a, b = (torch.randn(size, size, device=device, dtype=dtype) for _ in range(2))
    a @ b
    best = float("inf")
    for _ in range(5):
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(5):
            a @ b
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * size**3 * 5 / best / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--layer", type=int, default=3)
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--family", choices=("llama", "gpt2") + ENCODER_FAMILIES, default=None,
                        help="bench one random block of this family instead of --model")
    parser.add_argument("--lengths", default=None,
                        help="sentence lengths: 12 and/or 40 (MiniLM), any (--family; default 32,48)")
    parser.add_argument("--budget", type=float, default=20.0, help="seconds per literal loop before extrapolating")
    parser.add_argument("--sentence-scale", action="store_true",
                        help="seconds per sentence on a Llama-3.2-1B-shaped random model (for a GPU)")
    parser.add_argument("--weights-dtype", default="auto", help="with --sentence-scale: the model forward's dtype")
    parser.add_argument("--blocks", type=int, default=16, help="with --sentence-scale: how many blocks")
    batching.add_arguments(parser)
    args = parser.parse_args()
    if args.batching:
        batching.run(args)
        return
    if args.sentence_scale:
        sentence_scale(args.device, args.weights_dtype, layers=args.blocks, steps=args.steps)
        return
    lengths = args.lengths or ("32,48" if args.family else "12,40")
    bench(args.model, args.layer, args.steps, args.device, args.budget, [int(x) for x in lengths.split(",")],
          args.family)


if __name__ == "__main__":
    main()
