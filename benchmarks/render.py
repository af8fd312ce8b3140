"""Renders the benchmark tables of the docs and the figures from the stamped JSON results, so
that no figure is copied by hand: ``python benchmarks/render.py`` rewrites each block between
``<!-- render:NAME -->`` and ``<!-- /render:NAME -->`` in every file of :data:`DOCS` (a test
checks they are current) and redraws every PNG of :mod:`figures` from its JSON.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
DOCS = [HERE.parent / "docs" / name for name in ("benchmarks.md", "training.md", "compare.md", "serving.md")]


def topk(result: dict) -> str:
    """The full-catalog top-10 throughput table of ``results/topk.json``."""
    lines = [f"Measured {result['date'][:10]} at commit `{(result['git_commit'] or '')[:12]}` on {result['cpu']} "
             f"({result['cores']} cores; NumPy {result['versions']['numpy']}; matmul peak "
             f"{result['matmul_gflops']:.0f} GFLOP/s) — `{result['command']}`:", "",
             "| users × items | cells | end to end | scored cells/s | of matmul peak | implicit ALS recommend "
             "| tfrec ÷ implicit | peak RSS |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for run in result["runs"]:
        lines.append(f"| {run['users']:,} × {run['items']:,} | {run['cells'] / 1e6:,.0f}M | {run['seconds']:.2f} s | "
                     f"{run['cells_per_second'] / 1e6:,.0f}M | {run['fraction_of_matmul_peak']:.0%} | "
                     f"{run['implicit_cells_per_second'] / 1e6:,.0f}M/s | {run['vs_implicit']:.2f}× | "
                     f"{run['peak_rss_mb']:,.0f} MB |")
    return "\n".join(lines)


def training(result: dict) -> str:
    """tfrec's ids-only training against the TFRS tutorial model (``results/training.json``)."""
    speeds, runs = result["examples_per_second"], result["runs"]
    lines = [f"Measured {result['date'][:10]} at commit `{(result['git_commit'] or '')[:12]}` on {result['cpu']} "
             f"({result['cores']} cores; TensorFlow {result['versions']['tensorflow']}) — `{result['command']}` "
             f"({result['rows']:,} rows, batch {result['batch_size']}, dim {result['dim']}, {result['epochs']} epochs "
             f"of which the first is not timed, {result['repeats']} interleaved repeats):", "",
             "| model | examples/s (median) | runs |", "| --- | --- | --- |"]
    for name, value in speeds.items():
        lines.append(f"| {name} | {value:,.0f} | {', '.join(f'{v / 1000:,.0f}k' for v in runs[name])} |")
    lines += ["", f"tfrec ÷ TFRS: **{result['tfrec_over_tfrs']:.2f}×**."]
    return "\n".join(lines)


def _provenance(result: dict) -> str:
    """Where and when a result was measured (results from before the stamps say so)."""
    if "git_commit" not in result:
        run = result.get("run") or result.get("provenance") or {}
        when = f" on {run['date'][:10]}" if "date" in run else ""
        command = f" — `{result['command']}`" if "command" in result else ""
        return f"Measured{when} before results were stamped ({result.get('machine', 'this machine')}){command}"
    return (f"Measured {result['date'][:10]} at commit `{(result['git_commit'] or '')[:12]}` on {result['cpu']} "
            f"({result['cores']} cores) — `{result['command']}`")


def _rows(count: int) -> str:
    return f"{count // 1_000_000}M" if count >= 1_000_000 else f"{count // 1000}k"


def growth_training(results: tuple[dict, dict]) -> str:
    """Streamed training vs interactions, ``lazy_adam`` beside ``adam``
    (``results/growth_training_{lazy_adam,adam}.json``)."""
    lazy, adam = results
    same = lazy.get("git_commit") == adam.get("git_commit") and lazy.get("date", "")[:10] == adam.get("date", "")[:10]
    head = (_provenance(lazy) + " (and `--optimizer adam`):" if same else
            f"`lazy_adam`: {_provenance(lazy)}; `adam`: {_provenance(adam)}:")
    lines = [head, "",
             "| interactions | `lazy_adam`: fit | examples/s | peak RSS | `adam`: fit | examples/s | peak RSS |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    by_size = {run["interactions"]: run for run in adam["runs"]}
    for run in lazy["runs"]:
        other = by_size.get(run["interactions"])
        right = (f"{other['fit_s']:.1f} s | {other['examples_per_s']:,.0f} | {other['peak_rss_gb']:.2f} GB"
                 if other else "– | – | –")
        lines.append(f"| {_rows(run['interactions'])} | {run['fit_s']:.1f} s | {run['examples_per_s']:,.0f} | "
                     f"{run['peak_rss_gb']:.2f} GB | {right} |")
    return "\n".join(lines)


def _decimals(value: float, two_below: float = 1.0) -> str:
    """Two decimals under ``two_below``, one above (seconds, milliseconds)."""
    return f"{value:.2f}" if value < two_below else f"{value:.1f}"


def growth_harness(result: dict) -> str:
    """The comparison harness's time vs users x items (``results/growth_harness.json``)."""
    models = result["models"]
    names = {"popularity": "popularity", "svd": "SVD", "item-knn": "item-KNN", "two-tower": "two-tower"}
    header = ["users × items", "interactions", "whole harness"] + [
        f"{names.get(m, m)} scoring" if m == "popularity" else f"{names.get(m, m)} fit / scoring" for m in models]
    lines = [_provenance(result) + ":", "", "| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for run in result["runs"]:
        cells = [f"{run['users']:,} × {run['items']:,}", _rows(run["interactions"]), f"{run['total_s']:.1f} s"]
        for m in models:
            fit, score = run.get(f"{m}/fit_seconds"), run.get(f"{m}/predict_seconds")
            cells.append(f"{score:.2f} s" if m == "popularity" else f"{_decimals(fit)} / {_decimals(score)} s")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


PIPELINES = {
    "from_tensor_slices": "`from_tensor_slices` (TFRS tutorials: every joined column in memory, shuffle, batch)",
    "tfrec in-memory (index gather)": "tfrec in-memory (one permutation per epoch, one batched gather per column)",
    "tfrec streaming (8 Parquet shards)": "tfrec streaming (8 Parquet shards, joins in the pipeline)",
    "tfrec in-memory (index gather) + XLA": "tfrec in-memory + XLA (`jit_compile = true`)",
    "tfrec streaming (8 Parquet shards) + XLA": "tfrec streaming + XLA",
}


def growth_pipeline(result: dict) -> str:
    """Input pipelines at equal batch size (``results/growth_pipeline.json``)."""
    alone, training = result["input_only_examples_per_s"], result["training_examples_per_s"]
    runs = result["training_examples_per_s_runs"]
    lines = [_provenance(result) + ":", "", "| pipeline | input alone, examples/s | training, examples/s (runs) |",
             "| --- | --- | --- |"]
    for name, value in training.items():
        first = f"{alone[name]:,.0f}" if name in alone else "–"
        lines.append(f"| {PIPELINES.get(name, name)} | {first} | {value:,.0f} "
                     f"({', '.join(f'{v / 1000:.1f}k' for v in runs[name])}) |")
    return "\n".join(lines)


PROTOCOLS = {"predefined": "u1–u5 (per fold)", "random": "random 80/20", "temporal": "temporal (latest 20%)",
             "implicit": "implicit (ratings dropped), random 80/20",
             "cold": "cold users (20% held out, 80% of their rows as history)"}


def history(result: dict) -> str:
    """Does the two-tower beat EASE? (``results/history.json``, benchmarks/bench_history.py)."""
    parts = result["parts"]
    config = f"`{result['config_file']}`" if result.get("config_file") else "default"
    lines = [_provenance(result) + ":", "",
             f"| protocol | two-tower ({config}) | EASE (λ tuned on validation) | folds won | two-tower RMSE "
             "| two-tower fit |", "| --- | --- | --- | --- | --- | --- |"]
    for part, label in PROTOCOLS.items():
        if part not in parts:
            continue
        tower, ease = parts[part]["two-tower"], parts[part]["ease"]

        def figures(entry: dict) -> str:
            values = entry["ndcg@10"]
            return (" / ".join(f"{v:.3f}" for v in values) + f" (mean **{entry['mean']:.4f}**)"
                    if len(values) > 1 else f"{entry['mean']:.4f}")
        fit, l2 = tower["fit_seconds"], parts[part]["ease_l2_tuned_on_validation"]
        rmse = f"{tower['rmse_mean']:.3f}" if "rmse_mean" in tower else "–"
        lines.append(f"| {label} | {figures(tower)} | {figures(ease)} (λ = {l2:.0f}) | "
                     f"{parts[part]['two_tower_wins']} of {len(tower['ndcg@10'])} | {rmse} | "
                     f"{sum(fit) / len(fit):.0f} s{' per fold' if len(fit) > 1 else ''} |")
    for part, rerun in result.get("reruns", {}).items():
        lines += ["", f"The {PROTOCOLS.get(part, part)} row was re-run {rerun['date'][:10]} at commit "
                      f"`{rerun['git_commit'][:12]}` — `{rerun['command']}`."]
    if "cold" in parts:
        models = {name: entry for name, entry in parts["cold"].items() if isinstance(entry, dict) and "mean" in entry}
        lines += ["", "Cold users (strong generalization), nDCG@10: "
                  + ", ".join(f"{name} {entry['mean']:.4f}" for name, entry in models.items()) + "."]
    if "top100" in parts:
        top = parts["top100"]
        lines += ["", f"TFRS tutorial protocol (random 80/20, factorized top-100 accuracy on test): "
                      f"{top['top100_accuracy']:.3f}."]
        if top.get("seen_share_of_top100", 1.0) < 0.005:
            lines[-1] += (" The user's own training items score below every other item (`seen_penalty`): "
                          "none is in any test user's top 100.")
        elif "seen_share_of_top100" in top:
            lines[-1] += (f" The user's own training items fill {top['seen_share_of_top100']:.0%} of each test "
                          f"user's top 100 there; without them the accuracy is "
                          f"{top['top100_accuracy_seen_excluded']:.3f}.")
    if "examples" in parts:
        users, rows = parts["examples"]["users"], parts["examples"]["interactions"]
        lines += ["", f"Retrieval only on u1, users' batches against interaction batches: nDCG@10 "
                      f"{users['mean']:.4f} in {users['fit_seconds'][0]:.0f} s against {rows['mean']:.4f} in "
                      f"{rows['fit_seconds'][0]:.0f} s."]
    return "\n".join(lines)


def serving(result: dict) -> str:
    """Reloaded-SavedModel latency by catalog size and index (``results/serving.json``)."""
    lines = [_provenance(result) + ":", "",
             "| catalog | index | p50 / p99 single query | batched (256) queries/s | recall@10 vs exact "
             "| SavedModel size |", "| --- | --- | --- | --- | --- | --- |"]
    indexes = (("brute-force", "BruteForce"), ("scann", "ScaNN"), ("numpy", "NumPy matmul + argpartition"))
    for c in result["catalogs"]:
        for index, label in indexes:
            r = c[index]
            recall = {"brute-force": "1 (exact)", "scann": f"{c['scann_recall_at_10']:.3f}", "numpy": "exact"}[index]
            batched = f"{r['batched_queries_per_s']:,.0f}" if index != "numpy" else "–"
            size = f"{r['size_mb']:.0f} MB" if "size_mb" in r else "–"
            lines.append(f"| {_rows(c['n_items'])} | {label} | {_decimals(r['p50_ms'], 5)} / "
                         f"{_decimals(r['p99_ms'], 5)} ms | {batched} | {recall} | {size} |")
    return "\n".join(lines)


def http(result: dict) -> str:
    """``tfrec serve`` under load (``results/http.json``)."""
    latency = result["latency_ms"]
    return (f"{_provenance(result)}: {result['recommendations_per_second']:,.0f} recommendations/s, latency "
            f"p50 {latency['p50']:.0f} ms, p95 {latency['p95']:.0f} ms, p99 {latency['p99']:.0f} ms, "
            f"{result['errors']} errors ({result['clients']} clients, {result['requests']:,} requests, "
            f"{result['catalog']} catalog, {result['index']} index"
            + (f", {result['workers']} server process{'es' if result['workers'] > 1 else ''}"
               if "workers" in result else "") + ").")


def two_tower(result: dict) -> str:
    """The feature-tower model's retrieval and rating figures (``results/two_tower.json``)."""
    summary = result["summary"]

    def cell(key: str, metric: str, spread: bool) -> str:
        entry = summary.get(key, {}).get(metric)
        if not entry:
            return "–"
        return f"{entry['mean']:.3f}" + (f" ± {entry['std']:.3f}" if spread else "")

    lines = [_provenance(result) + ":", "",
             "| model | top-100 accuracy, random 80/20 | top-100, u1–u5 mean | RMSE, random 80/20 | RMSE, u1–u5 mean |",
             "| --- | --- | --- | --- | --- |"]
    for variant, label in (("retrieval", "retrieval-only"), ("rating", "rating-only (`l2 = 1e-4`)"),
                           ("joint", "joint (feature towers, `retrieval_weight = 0.001`)")):
        lines.append(f"| {label} | {cell(f'{variant}/random80/20', 'top100', False)} | "
                     f"{cell(f'{variant}/u1-u5', 'top100', True)} | {cell(f'{variant}/random80/20', 'rmse', False)} | "
                     f"{cell(f'{variant}/u1-u5', 'rmse', True)} |")
    lines.append("| references | TFRS tutorials: 0.233 basic, 0.29 deep, 0.25 context | | | "
                 "Surprise SVD 0.938, KNNBaseline 0.932 |")
    throughput = result["throughput"]
    lines += ["", f"Training throughput (after the first, tracing epoch): joint model "
                  f"{throughput['tfrec_joint_examples_per_second']:,.0f} examples/s versus "
                  f"{throughput['tutorial_examples_per_second']:,.0f} for the TFRS basic-retrieval tutorial pipeline "
                  f"in the same run ({throughput['speedup']:.1f}×; the tutorial computes factorized top-k metrics on "
                  f"every training batch). The in-batch logits matmul ran at "
                  f"{throughput['logits_matmul_achieved_flops'] / 1e9:.0f} GFLOP/s, "
                  f"{throughput['achieved_fraction_of_peak']:.0%} of the "
                  f"{throughput['peak_square_matmul_flops'] / 1e9:.0f} GFLOP/s of a 2048² matmul in that run."]
    return "\n".join(lines)


COMPARE_ROWS = {"popularity": ("popularity", "nDCG@10 0.251"), "svd": ("Surprise SVD", "RMSE 0.938, nDCG@10 0.108"),
                "knn-baseline": ("Surprise KNNBaseline", "RMSE 0.932"), "user-knn": ("user-KNN cosine", "RMSE 1.017"),
                "item-knn": ("item-KNN cosine", "RMSE 1.030"),
                "two-tower": ("two-tower (feature towers)", "TFRS tutorial nDCG@10 0.206")}


def compare(result: dict) -> str:
    """The Surprise-era comparison on ml-100k u1–u5 (``results/compare.json``)."""
    lines = [_provenance(result) + ":", "",
             "| model | RMSE | nDCG@10 | precision@10 | recall@10 | reference (same protocol, before tfrec) |",
             "| --- | --- | --- | --- | --- | --- |"]
    def value(quality: dict, metric: str, spread: bool = True) -> str:
        entry = quality.get(metric)
        if entry is None:
            return "–"
        return f"{entry['mean']:.3f}" + (f" ± {entry['std']:.3f}" if spread else "")

    for name, (label, reference) in COMPARE_ROWS.items():
        quality = result["quality"].get(name)
        if quality is not None:
            lines.append(f"| {label} | {value(quality, 'rmse')} | {value(quality, 'ndcg')} | "
                         f"{value(quality, 'precision', False)} | {value(quality, 'recall', False)} | {reference} |")
    speeds = ", ".join(f"{name} {entry['speedup']:,.0f}×" for name, entry in result["speed"].items())
    lines += ["", "Full-catalog scoring from fitted internals versus Surprise's per-pair `predict` loop over all "
                  f"943 × 1682 pairs: {speeds}."]
    return "\n".join(lines)


def compare_versions(result: dict) -> str:
    """``tfrec compare`` at an earlier commit and at the checkout, one run
    (``results/compare_versions.json``)."""
    before, after = result["before"], result["after"]
    lines = [_provenance(result) + f" (before: commit `{before['commit'][:12]}`):", "",
             "| model | nDCG@10 before | after | fit s before | after | ranking s before | after |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, old in before["models"].items():
        new = after["models"].get(name, {})
        lines.append(f"| {name} | {old['ndcg@10']:.4f} | {new.get('ndcg@10', float('nan')):.4f} | "
                     f"{old['fit_seconds']:.1f} | {new.get('fit_seconds', float('nan')):.1f} | "
                     f"{old['predict_seconds']:.2f} | {new.get('predict_seconds', float('nan')):.2f} |")
    lines += ["", f"Whole run: {before['seconds']:.0f} s before, {after['seconds']:.0f} s after "
                  f"({result['after_over_before_seconds']:.2f}×)."]
    return "\n".join(lines)


def harness(result: dict) -> str:
    """``tfrec compare``'s predict step per model (``results/harness.json``), beside the revision
    it was run against on the same data."""
    against = result.get("against")
    lines = [_provenance(result) + (f", beside commit `{against}` on the same data" if against else "") + ":", "",
             "| users × items | model | predict | cells/s | nDCG@10 | fit |" if not against else
             f"| users × items | model | predict (`{against}` → now) | cells/s (`{against}` → now) | nDCG@10 "
             "(both) | fit |", "| --- | --- | --- | --- | --- | --- |"]
    for run in result["runs"]:
        size = f"{run['users']:,} × {run['items']:,}"
        for name, now in run["models"].items():
            before = (run.get("against") or {}).get("models", {}).get(name)
            speed = f"{now['cells_per_second'] / 1e6:,.0f}M"
            seconds = f"{now['predict_seconds']:.2f} s"
            ndcg = f"{now['ndcg']:.4f}"
            if before:
                speed = f"{before['cells_per_second'] / 1e6:,.0f}M → **{speed}**"
                seconds = f"{before['predict_seconds']:.2f} s → {seconds}"
                ndcg += "" if f"{before['ndcg']:.4f}" == ndcg else f" (was {before['ndcg']:.4f})"
            lines.append(f"| {size} | {name} | {seconds} | {speed} | {ndcg} | {now['fit_seconds']:.1f} s |")
        if run["left_out"]:
            lines.append(f"| {size} | {', '.join(run['left_out'])} | left out: refuses the catalog | | | |")
    return "\n".join(lines)


RESULTS = HERE / "results"
RENDERERS = {"compare_versions": (compare_versions, RESULTS / "compare_versions.json"),
             "history": (history, RESULTS / "history.json"),
             "serving": (serving, RESULTS / "serving.json"),
             "http": (http, RESULTS / "http.json"),
             "http_scann_1m": (http, RESULTS / "http_scann_1m.json"),
             "two_tower": (two_tower, RESULTS / "two_tower.json"),
             "compare": (compare, RESULTS / "compare.json"), "topk": (topk, RESULTS / "topk.json"),
             "harness": (harness, RESULTS / "harness.json"),
             "training": (training, RESULTS / "training.json"),
             "growth_training": (growth_training, (RESULTS / "growth_training_lazy_adam.json",
                                                   RESULTS / "growth_training_adam.json")),
             "growth_harness": (growth_harness, RESULTS / "growth_harness.json"),
             "growth_pipeline": (growth_pipeline, RESULTS / "growth_pipeline.json")}


def _load(path: Path | tuple[Path, ...]):
    return tuple(json.loads(p.read_text()) for p in path) if isinstance(path, tuple) else json.loads(path.read_text())


def render(text: str) -> str:
    """``text`` with every known block rendered from its JSON."""
    for name, (function, path) in RENDERERS.items():
        block = function(_load(path))
        text = re.sub(rf"(<!-- render:{name} -->\n)(?:.*?\n)?(<!-- /render:{name} -->)",
                      lambda m, b=block: m[1] + b + "\n" + m[2], text, flags=re.S)
    return text


def draw_figures(folder: Path | None = None) -> list[Path]:
    """Every figure of :data:`figures.FIGURES`, redrawn from its JSON (into ``folder``, default
    beside the JSON)."""
    from figures import FIGURES, draw

    return [draw(name, json.loads((RESULTS / source).read_text()),
                 None if folder is None else folder / f"{name}.png")
            for name, (_, source) in FIGURES.items()]


if __name__ == "__main__":
    draw_figures()
    stale = []
    for doc in DOCS:
        current = doc.read_text()
        updated = render(current)
        if updated != current:
            stale.append(doc.name)
            if "--check" not in sys.argv:
                doc.write_text(updated)
    if "--check" in sys.argv and stale:
        sys.exit(f"stale: {', '.join(stale)}")
