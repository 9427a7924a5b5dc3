"""`ligsite analyze`: every number of its CSV files is recomputable from the cached Explanation JSON.

The reference below uses numpy alone on the JSON documents (no ligsite function in its
arithmetic): ratio baselines, composition, the word axis and the L2 diagnostic are written out
from docs/method.md. A 2-layer tiny random BERT and six sentences keep the real run to seconds;
degenerate sentences and the memory check use synthetic cache entries written by a helper.
"""

from __future__ import annotations

import csv
import json
import math
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ligsite import analysis, analysis_store
from ligsite.analysis import analyze
from ligsite.cache import ExplanationCache, cache_key
from ligsite.cli import app
from ligsite.config import BuildConfig
from ligsite.explanation import Explanation, Run
from ligsite.precompute import compute, fit_to_model, model_identity
from ligsite.samples import Sample, text_id

SENTENCES = ["The cat sat.", "Unbelievably, the antidisestablishmentarian pamphlet sold out.",
             "Hi", "A dog barked at the mailman's bicycle today.", "Rain.",
             "We went home after the long game, tired but happy."]
LAYER = ("zero", "self_input_token", "itb_zero_ratio")
COMPOSED = (("zero", "zero"), ("self_input_token", "att_itb_a0"), ("itb_zero_ratio", "zero"),
            ("itb_map_ratio", "att_itb_a0"))
METRICS = ("abs", "rel", "pearson")
SUMMARY_HEADER = ["axis", "layer", "layer_baseline", "att_baseline", "mlp_baseline", "n_sentences", "n_columns"] + [
    f"{m}_{s}" for m in METRICS for s in ("n", "undefined", "mean", "median", "q25", "q75", "iqr",
                                          "sentence_mean", "sentences", "undefined_sentences")] + ["median_sample"]
EPS = 1e-8


def samples_of(texts: list[str]) -> list[Sample]:
    return [Sample(id=text_id(text), text=text, line=k + 1) for k, text in enumerate(texts)]


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def close(found: str, expected: float | int | str) -> bool:
    if isinstance(expected, str):
        return found == expected
    if isinstance(expected, float) and math.isnan(expected):
        return found == ""
    return found != "" and abs(float(found) - expected) <= 1e-9 * max(1.0, abs(expected))


# ---- the numpy reference ------------------------------------------------------------------------

def load_documents(cache_dir: Path) -> dict[str, dict]:
    """Every cached Explanation JSON document by its text."""
    return {doc["text"]: doc for doc in (json.loads(p.read_text()) for p in cache_dir.rglob("*.json"))}


def scores(doc: dict, key: str) -> np.ndarray:
    return np.array(doc["runs"][key]["scores"], dtype=np.float64)  # null -> NaN


def rescale(c: np.ndarray, new_self: np.ndarray) -> np.ndarray:
    """METHOD.md: put ``new_self`` on the diagonal, scale each column back to c's column sum."""
    size = c.shape[-1]
    p = c.copy()
    p[..., np.arange(size), np.arange(size)] = new_self
    total_c, total_p = c.sum(-2), p.sum(-2)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(np.abs(total_p) > EPS, total_c / total_p, 1.0)
    return p * factor[..., None, :]


def itb_zero_ratio(itb: np.ndarray, zero: np.ndarray) -> np.ndarray:
    diag_c, diag_0 = np.diagonal(itb, 0, -2, -1), np.diagonal(zero, 0, -2, -1)
    s_c, s_0 = itb.sum(-2) - diag_c, zero.sum(-2) - diag_0
    with np.errstate(divide="ignore", invalid="ignore"):
        new_self = np.where(np.abs(s_0) > EPS, diag_0 * s_c / s_0, 0.0)
    return rescale(itb, new_self)


def itb_map_ratio(itb: np.ndarray, a: np.ndarray) -> np.ndarray:
    s_c = itb.sum(-2) - np.diagonal(itb, 0, -2, -1)
    keep = np.abs(1.0 - a) <= EPS
    with np.errstate(divide="ignore", invalid="ignore"):
        changed = rescale(itb, s_c * a / (1.0 - a))
    return np.where(keep[..., None, :], itb, changed)


def route(doc: dict, granularity: str, baseline: str) -> np.ndarray:
    """All layers of one route and baseline: att [nL, H, T, T], mlp [nL, T, H], layer [nL, T, T]."""
    if baseline == "itb_zero_ratio":
        return itb_zero_ratio(scores(doc, f"{granularity}:self_input_token"), scores(doc, f"{granularity}:zero"))
    if baseline == "itb_map_ratio":
        return itb_map_ratio(scores(doc, "att:self_input_token"), np.array(doc["self_probs"], dtype=np.float64))
    return scores(doc, f"{granularity}:{baseline}")


def word_sum(doc: dict) -> np.ndarray:
    """[T, W] indicator: each token's word (a special token is a word of its own)."""
    starts, previous = [], object()
    for k, word in enumerate(doc["word_ids"]):
        if word is None or word != previous or k == 0:
            starts.append(k)
        previous = word
    index = np.searchsorted(starts, np.arange(len(doc["tokens"])), side="right") - 1
    return (index[:, None] == np.arange(len(starts))[None, :]).astype(np.float64)


def diagnostic(d: np.ndarray, c: np.ndarray) -> np.ndarray:
    """[T, 3]: abs ‖d − c‖, rel ‖d − c‖/‖d‖ and Pearson per target column (NaN: undefined)."""
    diff, norm = np.sqrt(((d - c) ** 2).sum(0)), np.sqrt((d ** 2).sum(0))
    dc, cc = d - d.mean(0), c - c.mean(0)
    spread = np.sqrt((dc ** 2).sum(0)) * np.sqrt((cc ** 2).sum(0))
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(norm > 0, diff / norm, np.nan)
        pearson = np.where(spread > 0, (dc * cc).sum(0) / spread, np.nan)
    return np.stack([diff, rel, pearson], axis=-1)


def reference_columns(doc: dict, triple: tuple[str, str, str], axis: str) -> list[np.ndarray]:
    """Per layer: the [columns, 3] diagnostic of one sentence on ``axis``."""
    layer_baseline, att, mlp = triple
    direct = route(doc, "layer", layer_baseline)
    composed = np.einsum("lhij,ljh->lij", route(doc, "att", att), route(doc, "mlp", mlp))
    words = word_sum(doc)
    out = []
    for d, c in zip(direct, composed):
        if axis == "word":
            d, c = words.T @ d @ words, words.T @ c @ words
        out.append(diagnostic(d, c))
    return out


def finite_mean(values: np.ndarray) -> float:
    values = values[np.isfinite(values)]
    return float(np.mean(values)) if values.size else math.nan


def reference_summary(docs: list[dict], ids: list[str], triple: tuple, axis: str, layer: int | None) -> dict:
    """The expected summary.csv row (layer None: all layers pooled)."""
    pooled, sentence_means = [], []
    for doc in docs:
        per_layer = reference_columns(doc, triple, axis)
        chosen = np.concatenate(per_layer if layer is None else [per_layer[doc["layers"].index(layer)]])
        pooled.append(chosen)
        sentence_means.append([finite_mean(chosen[:, k]) for k in range(3)])
    columns, means = np.concatenate(pooled), np.array(sentence_means)
    row: dict = {"axis": axis, "layer": "all" if layer is None else str(layer), "layer_baseline": triple[0],
                 "att_baseline": triple[1], "mlp_baseline": triple[2],
                 "n_sentences": len(docs), "n_columns": len(columns)}
    for k, metric in enumerate(METRICS):
        values = columns[:, k][np.isfinite(columns[:, k])]
        q25, median, q75 = np.quantile(values, [0.25, 0.5, 0.75]) if values.size else [math.nan] * 3
        per_sentence = means[:, k][np.isfinite(means[:, k])]
        row |= {f"{metric}_n": values.size, f"{metric}_undefined": len(columns) - values.size,
                f"{metric}_mean": float(np.mean(values)) if values.size else math.nan,
                f"{metric}_median": float(median), f"{metric}_q25": float(q25), f"{metric}_q75": float(q75),
                f"{metric}_iqr": float(q75 - q25),
                f"{metric}_sentence_mean": float(np.mean(per_sentence)) if per_sentence.size else math.nan,
                f"{metric}_sentences": per_sentence.size,
                f"{metric}_undefined_sentences": len(docs) - per_sentence.size}
    pearson = means[:, 2]
    defined = [k for k in range(len(docs)) if np.isfinite(pearson[k])]
    if defined:
        lower_median = sorted(pearson[defined])[(len(defined) - 1) // 2]
        row["median_sample"] = next(ids[k] for k in defined if pearson[k] == lower_median)
    else:
        row["median_sample"] = ""
    return row


# ---- fixtures -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir) -> dict:
    """Half the sentences cached by `ligsite compute`, then `ligsite analyze` over all of them."""
    folder = tmp_path_factory.mktemp("analysis")
    config = BuildConfig(model=str(tiny_model_dir("bert")), steps=4, device="cpu", layer_baselines=LAYER,
                         composed=COMPOSED, cache_dir=folder / "cache")
    samples = samples_of(SENTENCES)
    first = compute(samples[:3], fit_to_model(config), progress=False)
    report = analyze(samples, config, folder / "out", progress=False)
    return {"config": config, "samples": samples, "report": report, "out": folder / "out",
            "first": first, "again": compute(samples, fit_to_model(config), progress=False)}


def synthetic_explanation(text: str, size: int, rng: np.random.Generator, flat: bool = False) -> Explanation:
    """A cache entry with the shapes the engine writes (2 layers, 4 heads); ``flat``: every score 0."""
    layers, heads = [0, 1], 4
    scale = 0.0 if flat else 1.0

    def run(shape: tuple[int, ...], value_shape: tuple[int, ...]) -> Run:
        return Run(scores=scale * rng.normal(size=shape), value=np.abs(rng.normal(size=value_shape)) + 0.5,
                   completeness=1.0 + 0.001 * rng.normal(size=value_shape), steps=np.full((2, size), 8))

    att, mlp, layer = (2, heads, size, size), (2, size, heads), (2, size, size)
    runs = {"att:zero": run(att, (2, heads, size)), "att:self_input_token": run(att, (2, heads, size)),
            "mlp:zero": run(mlp, (2, size)), "mlp:att_itb_a0": run(mlp, (2, size)),
            "layer:zero": run(layer, (2, size)), "layer:self_input_token": run(layer, (2, size))}
    return Explanation(
        text=text, tokens=[f"t{k}" for k in range(size)], word_ids=list(range(size)), model="synthetic",
        model_identity="synthetic", model_type="bert", n_heads=heads, layers=layers, targets=list(range(size)),
        steps=8, quadrature="gauss-legendre", dtype="float32", tolerance=0.02,
        baselines={"att": ["zero", "self_input_token"], "mlp": ["zero", "att_itb_a0"], "layer": ["zero"]},
        runs=runs, self_probs=rng.uniform(0.1, 0.9, size=(2, heads, size)))


def write_synthetic_cache(config: BuildConfig, texts: list[str], size: int = 12, flat: tuple[str, ...] = (),
                          sizes: dict[str, int] | None = None) -> None:
    """Cache entries for ``texts`` under ``config``'s keys, without running the engine."""
    cache, identity, rng = ExplanationCache(config.cache_dir), model_identity(config), np.random.default_rng(7)
    for text in texts:
        explanation = synthetic_explanation(text, (sizes or {}).get(text, size), rng, flat=text in flat)
        cache.put(cache_key(identity, text, config), explanation)


def synthetic_config(tiny_model_dir, folder: Path) -> BuildConfig:
    return BuildConfig(model=str(tiny_model_dir("bert")), steps=8, device="cpu", layer_baselines=("zero",),
                       composed=(("zero", "zero"),), cache_dir=folder / "cache")


# ---- tests --------------------------------------------------------------------------------------

def test_every_summary_number_is_a_numpy_recomputation_from_the_saved_json(real_run: dict) -> None:
    config, samples = real_run["config"], real_run["samples"]
    documents = load_documents(config.cache_dir)
    docs, ids = [documents[s.text] for s in samples], [s.id for s in samples]
    header, rows = read_csv(real_run["out"] / "summary.csv")
    assert header == SUMMARY_HEADER
    triples = [(b, a, m) for b in LAYER for a, m in COMPOSED]
    assert len(rows) == 2 * (len(docs[0]["layers"]) + 1) * len(triples)
    for row in rows:
        triple = (row["layer_baseline"], row["att_baseline"], row["mlp_baseline"])
        layer = None if row["layer"] == "all" else int(row["layer"])
        expected = reference_summary(docs, ids, triple, row["axis"], layer)
        wrong = {key: (row[key], value) for key, value in expected.items() if not close(row[key], value)}
        assert not wrong, f"{row['axis']} layer {row['layer']} {triple}: {wrong}"


def test_per_sentence_means_are_a_numpy_recomputation_too(real_run: dict) -> None:
    documents = load_documents(real_run["config"].cache_dir)
    by_id = {s.id: documents[s.text] for s in real_run["samples"]}
    _, rows = read_csv(real_run["out"] / "per_sentence.csv")
    assert len(rows) == len(by_id) * 2 * 3 * 12  # samples × axes × (2 layers + all) × triples
    for row in rows[::7]:
        doc = by_id[row["sample_id"]]
        per_layer = reference_columns(doc, (row["layer_baseline"], row["att_baseline"], row["mlp_baseline"]), row["axis"])
        chosen = np.concatenate(per_layer if row["layer"] == "all" else [per_layer[int(row["layer"])]])
        assert int(row["n_columns"]) == len(chosen)
        for k, metric in enumerate(METRICS):
            values = chosen[:, k][np.isfinite(chosen[:, k])]
            assert close(row[f"{metric}_mean"], finite_mean(chosen[:, k]))
            assert int(row[f"{metric}_n"]) == values.size
            if values.size:
                assert close(row[f"{metric}_median"], float(np.median(values)))


def test_best_pairs_are_the_top_three_of_a_sort_of_summary(real_run: dict) -> None:
    _, summary = read_csv(real_run["out"] / "summary.csv")
    _, best = read_csv(real_run["out"] / "best_pairs.csv")
    token = [r for r in summary if r["axis"] == "token"]
    expected = []
    for layer_baseline in LAYER:
        for layer in ("0", "1", "all"):
            group = [r for r in token if r["layer_baseline"] == layer_baseline and r["layer"] == layer]
            for criterion, reverse in (("pearson_mean", True), ("rel_mean", False)):
                ranked = sorted((r for r in group if r[criterion]), key=lambda r: float(r[criterion]), reverse=reverse)
                expected += [(layer_baseline, layer, criterion, str(rank), r["att_baseline"], r["mlp_baseline"], r[criterion])
                             for rank, r in enumerate(ranked[:3], start=1)]
    found = [(r["layer_baseline"], r["layer"], r["criterion"], r["rank"], r["att_baseline"], r["mlp_baseline"], r["value"])
             for r in best]
    assert sorted(found) == sorted(expected) and len(found) == len(LAYER) * 3 * 2 * 3


def test_word_axis_rows_count_words_and_sum_both_routes_the_same_way(real_run: dict) -> None:
    documents = load_documents(real_run["config"].cache_dir)
    words = sum(word_sum(documents[s.text]).shape[1] for s in real_run["samples"])
    tokens = sum(len(documents[s.text]["tokens"]) for s in real_run["samples"])
    _, summary = read_csv(real_run["out"] / "summary.csv")
    by_axis = {r["axis"]: int(r["n_columns"]) for r in summary if r["layer"] == "0"}
    assert by_axis == {"token": tokens, "word": words} and words < tokens  # subwords were merged


def test_analyze_fills_the_cache_exactly_as_compute_does(real_run: dict) -> None:
    assert real_run["first"].computed == 3
    assert real_run["report"].computed == 3  # the other three came from the cache compute filled
    assert real_run["again"].computed == 0 and real_run["again"].cache_hits == len(SENTENCES)


def test_completeness_rows_count_every_ratio_of_every_raw_run(real_run: dict) -> None:
    documents = load_documents(real_run["config"].cache_dir)
    _, rows = read_csv(real_run["out"] / "completeness.csv")
    for row in rows:
        ratios = [np.array(documents[s.text]["runs"][f"{row['route']}:{row['baseline']}"]["completeness"], dtype=float)
                  for s in real_run["samples"]]
        picked = np.concatenate([(r if row["layer"] == "all" else r[[int(row["layer"])]]).ravel() for r in ratios])
        defined = picked[np.isfinite(picked)]
        assert int(row["n_ratios"]) == defined.size and int(row["n_undefined"]) == picked.size - defined.size
        assert int(row["n_within"]) == int((np.abs(defined - 1.0) <= 0.02).sum())
        assert close(row["worst_ratio"], float(defined[np.argmax(np.abs(defined - 1.0))]))


def test_degenerate_sentences_are_counted_and_reported_not_averaged_in(tmp_path: Path, tiny_model_dir) -> None:
    config = synthetic_config(tiny_model_dir, tmp_path)
    texts = ["one token", "all zero", "normal a", "normal b"]
    write_synthetic_cache(config, texts, size=5, flat=("all zero",), sizes={"one token": 1})
    samples = samples_of(texts)
    report = analyze(samples, config, tmp_path / "out", progress=False)
    assert set(report.degenerate) == {samples[0].id, samples[1].id}
    _, rows = read_csv(tmp_path / "out" / "summary.csv")
    row = next(r for r in rows if r["axis"] == "token" and r["layer"] == "0" and r["att_baseline"] == "zero")
    assert int(row["n_columns"]) == 1 + 5 + 5 + 5 and int(row["abs_n"]) == 16
    assert int(row["pearson_undefined"]) == 1 + 5  # one-token column, constant (zero) columns
    assert int(row["rel_undefined"]) == 5  # ‖d‖ = 0 in the all-zero sentence
    assert int(row["pearson_undefined_sentences"]) == 2 and int(row["pearson_sentences"]) == 2
    _, per_sentence = read_csv(tmp_path / "out" / "per_sentence.csv")
    normal = [float(r["pearson_mean"]) for r in per_sentence if r["sample_id"] in (samples[2].id, samples[3].id)
              and r["axis"] == "token" and r["layer"] == "0" and r["att_baseline"] == "zero"]
    assert close(row["pearson_sentence_mean"], float(np.mean(normal)))  # the undefined two are not zeros
    undefined = [r for r in per_sentence if r["sample_id"] == samples[0].id and r["axis"] == "token"]
    assert all(r["pearson_mean"] == "" and r["pearson_n"] == "0" for r in undefined)


def test_radix_selection_equals_numpy_quantiles_across_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(analysis_store, "CHUNK_ROWS", 7)  # many chunk boundaries
    rng = np.random.default_rng(3)
    values = np.concatenate([rng.normal(size=60), [0.0, -0.0, 0.0, 1e-300, -1e300, 5.0, 5.0, np.nan, np.nan]])
    rng.shuffle(values)
    records = np.zeros((len(values), analysis_store.WIDTH))
    records[:, 3] = values  # kind COLUMN, layer 0, metric abs
    path = tmp_path / "records.f8"
    records.astype("<f8").tofile(path)
    finite = np.sort(values[np.isfinite(values)])
    at = analysis_store.order_statistics(path, {(analysis_store.COLUMN, 0, 0): list(range(len(finite)))})
    assert [at[((analysis_store.COLUMN, 0, 0), r)] for r in range(len(finite))] == finite.tolist()


@pytest.mark.slow
def test_memory_stays_flat_from_200_to_2000_cached_entries(tmp_path: Path, tiny_model_dir) -> None:
    peaks = {}
    for count in (200, 2000):
        folder = tmp_path / str(count)
        config = synthetic_config(tiny_model_dir, folder)
        texts = [f"synthetic sentence {k}" for k in range(count)]
        write_synthetic_cache(config, texts)
        samples = samples_of(texts)
        tracemalloc.start()
        analyze(samples, config, folder / "out", progress=False)
        peaks[count] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    print(f"tracemalloc peak: {peaks}")
    assert peaks[2000] < 1.25 * peaks[200], peaks


def test_cli_analyze_writes_the_four_files_and_prints_the_table(real_run: dict, tmp_path: Path) -> None:
    config = real_run["config"]
    (tmp_path / "samples.txt").write_text("\n".join(SENTENCES[:2]) + "\n", encoding="utf-8")
    (tmp_path / "ligsite.toml").write_text(
        f'model = "{config.model}"\nsteps = 4\ndevice = "cpu"\n[baselines]\nlayer = {list(LAYER)!r}\n'
        f"composed = {[list(p) for p in COMPOSED]!r}\n".replace("'", '"'), encoding="utf-8")
    result = CliRunner().invoke(app, ["analyze", str(tmp_path / "samples.txt"), "--config", str(tmp_path / "ligsite.toml"),
                                      "--cache-dir", str(config.cache_dir), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "ligsite analyze: 2 samples" in result.output and "zero" in result.output  # the headline table
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted((*analysis.FILES, analysis.MARKER))


def test_analyze_never_overwrites_a_users_files_and_checks_its_folder_before_computing(tmp_path: Path,
                                                                                      tiny_model_dir) -> None:
    config = synthetic_config(tiny_model_dir, tmp_path)
    texts = ["normal a", "normal b"]
    samples = samples_of(texts)  # not cached: a refused destination must stop before any computing
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "summary.csv").write_text("the user's own table\n", encoding="utf-8")
    with pytest.raises(analysis.InputError, match=r"holds summary\.csv, which ligsite did not write"):
        analyze(samples, config, mine, progress=False)
    assert (mine / "summary.csv").read_text(encoding="utf-8") == "the user's own table\n"
    assert not (tmp_path / "cache").exists()  # nothing was computed or cached
    a_file = tmp_path / "a-file"
    a_file.write_text("x", encoding="utf-8")
    with pytest.raises(analysis.InputError, match="is a file, not a folder"):
        analyze(samples, config, a_file, progress=False)

    write_synthetic_cache(config, texts, size=5)
    out = tmp_path / "out"
    analyze(samples, config, out, progress=False)  # a new folder, then the same one again: its own files
    first = (out / "summary.csv").read_bytes()
    analyze(samples, config, out, progress=False)
    assert (out / "summary.csv").read_bytes() == first and (out / analysis.MARKER).is_file()
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]  # no temporary file left behind


def test_a_failed_analysis_leaves_the_previous_files_as_they_were(tmp_path: Path, tiny_model_dir,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    config = synthetic_config(tiny_model_dir, tmp_path)
    texts = ["normal a", "normal b", "normal c"]
    write_synthetic_cache(config, texts, size=5)
    samples = samples_of(texts)
    out = tmp_path / "out"
    analyze(samples, config, out, progress=False)
    before = {name: (out / name).read_bytes() for name in analysis.FILES}
    real = analysis.sentence_columns

    def fails_on_the_last(exp, triples):  # the stream breaks after per_sentence.csv got rows
        if exp.text == "normal c":
            raise OSError(28, "No space left on device")
        return real(exp, triples)

    monkeypatch.setattr(analysis, "sentence_columns", fails_on_the_last)
    with pytest.raises(OSError, match="No space"):
        analyze(samples_of(texts[:1] + texts[2:]), config, out, progress=False)
    assert {name: (out / name).read_bytes() for name in analysis.FILES} == before
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
