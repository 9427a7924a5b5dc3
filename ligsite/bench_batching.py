"""``python -m ligsite.bench --batching``: sentences/s with batch 1 against shared IG calls.

Random post-LN encoders of three shapes (no download, no tokenizer; random ids):

- tiny:      the tests' model: D 32, 4 heads, FFN 64, 2 blocks;
- minilm:    all-MiniLM-L6-v2's shape: D 384, 12 heads, FFN 1536, 6 blocks;
- bert-base: D 768, 12 heads, FFN 3072, 12 blocks;

and a Llama-shaped decoder (D 2048, 32 heads, 8 kv heads, FFN 8192, ``--batching-blocks``
blocks), whose pre-norm blocks run one sentence at a time (its batched column says so). Every
route and raw baseline of every block at fixed steps, as ``ligsite build`` computes a sentence
(forward included; ratio variants and composition are post-processing). Sentence lengths are
T, T-1, T-2, T-3 in turn, so shared calls pad. Per setting: sentences/s (wall clock), CPU seconds
per sentence (``process_time``: steady when other processes load the machine), and the
achieved fraction of this device's dense float32 matmul rate: the matmul FLOPs the engine
really runs (torch's flop counter table, forward and backward) over its time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

SHAPES = {  # hidden, heads, ffn, blocks
    "tiny": (32, 4, 64, 2),
    "minilm": (384, 12, 1536, 6),
    "bert-base": (768, 12, 3072, 12),
}


@dataclass(frozen=True)
class Timing:
    seconds: float  # wall clock for all sentences
    cpu: float  # process CPU seconds for all sentences
    flops: float  # matmul FLOPs of one pass over all sentences


def random_adapter(shape: str, device: torch.device, llama_blocks: int = 2):
    """A random model of ``shape`` (or "llama") behind its ligsite adapter, residual rms ≈ 3."""
    import transformers as tf

    from ligsite.models.registry import adapter_class

    torch.manual_seed(0)
    if shape == "llama":
        config = tf.LlamaConfig(vocab_size=1000, hidden_size=2048, num_hidden_layers=llama_blocks,
                                num_attention_heads=32, num_key_value_heads=8, head_dim=64,
                                intermediate_size=8192, max_position_embeddings=512)
    else:
        hidden, heads, ffn, blocks = SHAPES[shape]
        config = tf.BertConfig(vocab_size=1000, hidden_size=hidden, num_hidden_layers=blocks, num_attention_heads=heads,
                               intermediate_size=ffn, max_position_embeddings=512)
    model = tf.AutoModel.from_config(config, attn_implementation="eager")
    with torch.no_grad():  # a real model's residual scale (a random init's is ~0.02)
        embedding = model.get_input_embeddings().weight
        embedding.mul_(3.0 / embedding.pow(2).mean().sqrt())
    return adapter_class(config.model_type)(model.to(device), None, f"random-{shape}", "random", torch.float32)


def explain_ids(adapter, ids: list[torch.Tensor], batch_size: int, steps: int) -> None:
    """What ``explain_many`` computes for token ids (every block, route and raw baseline)."""
    from ligsite.explanation import BASELINES
    from ligsite.runs import compute, groups_for

    layers = list(range(adapter.n_layers))
    targets = [list(range(len(x))) for x in ids]
    requested = {g: list(BASELINES[g]) for g in adapter.granularities}
    for group in groups_for(adapter, layers, [len(x) for x in ids], targets, torch.float32, steps, batch_size):
        caches = [adapter.forward(ids[s]) for s in group]
        compute(adapter, caches, layers, [targets[s] for s in group], requested, torch.float32,
                 "gauss-legendre", steps, 0.02)


def timed(adapter, ids: list[torch.Tensor], batch_size: int, steps: int) -> Timing:
    """Best of two timed passes (after one warm-up sentence), and one FLOP-counted pass."""
    from ligsite.bench import _sync

    explain_ids(adapter, ids[:1], 1, steps)
    best = (float("inf"), float("inf"))
    for _ in range(2):
        _sync(adapter.device)
        wall, cpu = time.perf_counter(), time.process_time()
        explain_ids(adapter, ids, batch_size, steps)
        _sync(adapter.device)
        best = min(best, (time.perf_counter() - wall, time.process_time() - cpu))
    with MatmulFlops() as counter:
        explain_ids(adapter, ids, batch_size, steps)
    return Timing(best[0], best[1], float(counter.total))


class MatmulFlops(TorchDispatchMode):
    """FLOPs of every op torch's flop counter knows (matmuls, bmm, einsum's pieces), forward and
    backward; ``FlopCounterMode`` itself tracks modules with hooks that ``autograd.grad`` refuses."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        count = flop_registry.get(func._overloadpacket)
        if count is not None:
            self.total += count(*args, **kwargs, out_val=out)
        return out


def sentences_for(length: int, device: torch.device) -> int:
    """Sentences per setting: enough for a few shared calls (more on a GPU's larger budget)."""
    return max(4, (2048 if device.type == "cuda" else 256) // length)


def bench_batching(device: str, shapes: list[str], lengths: list[int], count: int | None, steps: int,
                   batch_size: int | str, llama_blocks: int) -> None:
    from ligsite.bench import _matmul_rate
    from ligsite.lig.ig import memory_budget
    from ligsite.models.loading import resolve_device

    where = resolve_device(device)
    rate = _matmul_rate(where, torch.float32)
    print(f"{where}, {torch.get_num_threads()} threads, float32 matmul {rate:.0f} GFLOP/s, IG budget "
          f"{memory_budget(where) / 2**20:.0f} MiB, {steps} nodes, sentences of T..T-3 tokens, "
          f"batched: batch_size {batch_size}")
    print(f"{'model':10s} {'T':>4s} {'S':>4s} {'batch 1 s/s':>12s} {'batched s/s':>12s} {'speed-up':>9s} "
          f"{'CPU s/sent 1':>13s} {'CPU s/sent b':>13s} {'matmul % 1':>11s} {'matmul % b':>11s}")
    for shape in shapes:
        adapter = random_adapter(shape, where, llama_blocks)
        for length in lengths:
            n = count or sentences_for(length, where)
            generator = torch.Generator().manual_seed(length)
            ids = [torch.randint(0, 1000, (length - s % 4,), generator=generator) for s in range(n)]
            one = timed(adapter, ids, 1, steps)
            many = timed(adapter, ids, batch_size, steps)
            share = [t.flops / t.seconds / 1e9 / rate * 100 for t in (one, many)]
            print(f"{shape:10s} {length:4d} {n:4d} {n / one.seconds:12.2f} {n / many.seconds:12.2f} "
                  f"{one.seconds / many.seconds:8.2f}x {one.cpu / n:13.3f} {many.cpu / n:13.3f} "
                  f"{share[0]:10.1f}% {share[1]:10.1f}%")
    print("llama: pre-norm blocks do not share calls (one sentence at a time in both columns).")


def add_arguments(parser) -> None:
    """The --batching options of ``python -m ligsite.bench``."""
    parser.add_argument("--batching", action="store_true",
                        help="sentences/s with batch 1 against shared IG calls (random encoders; llama: one at a time)")
    parser.add_argument("--batching-models", default=None,
                        help="with --batching: tiny, minilm, bert-base, llama (default: tiny,minilm on CPU, all on CUDA)")
    parser.add_argument("--batching-lengths", default=None, help="with --batching: T values (default 16,64; CUDA 16,64,256)")
    parser.add_argument("--batching-sentences", type=int, default=None, help="with --batching: sentences per setting")
    parser.add_argument("--batching-blocks", type=int, default=2, help="with --batching: llama blocks")
    parser.add_argument("--batch-size", default=None,
                        help="with --batching: the shared column's batch_size (default: auto on CUDA, 64 on a CPU, "
                             "where auto would not share)")


def run(args) -> None:
    """``--batching``, with the defaults of the device."""
    cuda = args.device.startswith("cuda")
    models = args.batching_models or ("tiny,minilm,bert-base,llama" if cuda else "tiny,minilm")
    lengths = args.batching_lengths or ("16,64,256" if cuda else "16,64")
    size = args.batch_size or ("auto" if cuda else "64")
    size = size if size == "auto" else int(size)
    bench_batching(args.device, models.split(","), [int(x) for x in lengths.split(",")], args.batching_sentences,
                   args.steps, size, args.batching_blocks)
