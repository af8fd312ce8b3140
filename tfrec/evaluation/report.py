"""Comparison tables and reports: one formatting for the terminal, Markdown (``report.md``) and
JSON outputs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

MAIN_COLUMNS = (("rmse", 0), ("mae", 0), ("precision", None), ("recall", None), ("ndcg", None),
                ("map", None), ("hit_rate", None), ("mrr", None), ("coverage", None),
                ("novelty", None), ("diversity", None), ("fit_seconds", 0), ("predict_seconds", 0),
                ("unknown_users", 0), ("unknown_items", 0))


#: The terminal's default columns: a table that fits 120 characters.
TERMINAL_METRICS = ("rmse", "ndcg", "recall", "precision", "coverage", "fit_seconds")


def comparison_table(summary: pd.DataFrame, k: int, intervals: pd.DataFrame | None = None, *,
                     metrics: tuple[str, ...] | None = None, compact: bool = False) -> pd.DataFrame:
    """Models as rows, the main metrics at ``k`` as columns, cells ``mean ± std`` (over folds).

    With ``intervals`` (:meth:`~tfrec.evaluation.harness.EvaluationResult.intervals`) a column
    ``ndcg@k 95% CI`` gives the per-user bootstrap interval, and models that are not
    significantly different from the best (paired Wilcoxon, Holm) are marked ``≈best``.
    ``metrics`` keeps only those metrics; ``compact`` (the terminal) drops the interval column
    and shortens the verdict.
    """
    models = list(dict.fromkeys(summary["model"]))
    table: dict[str, list] = {"model": models}
    for metric, cut in MAIN_COLUMNS:
        if metrics is not None and metric not in metrics:
            continue
        cut = k if cut is None else cut
        rows = summary[(summary.metric == metric) & (summary.k == cut)].set_index("model")
        if rows.empty:
            continue
        label = f"{metric}@{cut}" if cut else metric
        digits = 2 if "seconds" in metric else 0 if metric.startswith("unknown") else 4
        table[label] = [_cell(rows, m, digits) for m in models]
        if metric == "ndcg" and intervals is not None and not intervals.empty:
            ci = intervals[(intervals.metric == "ndcg") & (intervals.k == cut)].set_index("model")
            if not compact:
                table[f"{label} 95% CI"] = [f"[{ci.loc[m, 'ci_low']:.4f}, {ci.loc[m, 'ci_high']:.4f}]"
                                            if m in ci.index else "–" for m in models]
            table["vs best"] = [("best" if ci.loc[m, "p_vs_best"] == 1.0 and ci.loc[m, "same_as_best"]
                                 and ci.loc[m, "user_mean"] == ci["user_mean"].max() else
                                 f"≈best (p={ci.loc[m, 'p_vs_best']:.2g})" if ci.loc[m, "same_as_best"] else
                                 f"worse (p={ci.loc[m, 'p_vs_best']:.2g})") if m in ci.index else "–"
                                for m in models]
            if compact:
                table["vs best"] = [v.split(" ")[0] for v in table["vs best"]]
    return pd.DataFrame(table)


def _cell(rows: pd.DataFrame, model: str, digits: int) -> str:
    if model not in rows.index or np.isnan(rows.loc[model, "mean"]):
        return "–"
    mean, std, folds = rows.loc[model, ["mean", "std", "folds"]]
    text = f"{mean:.{digits}f}"
    return text + (f" ± {std:.{digits}f}" if folds > 1 else "")


def to_markdown(table: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (no extra dependency)."""
    header = "| " + " | ".join(table.columns) + " |"
    rule = "| " + " | ".join("---" for _ in table.columns) + " |"
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def to_text(table: pd.DataFrame) -> str:
    """A fixed-width terminal table."""
    widths = [max(len(str(c)), *(len(str(v)) for v in table[c])) for c in table.columns]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(table.columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in table.itertuples(index=False):
        lines.append("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)))
    return "\n".join(lines)


def sampled_note(sampled: dict[str, Any]) -> str:
    """One line on a ``--sample-users`` run: how many users of how many, and what to trust."""
    return (f"sampled: {sampled['users']:,} test users per fold (of {', '.join(f'{n:,}' for n in sampled['of'])}; "
            f"seed {sampled['seed']}); the 95% intervals are per-user bootstraps over the sample")


def report_markdown(payload: dict[str, Any], summary: pd.DataFrame, intervals: pd.DataFrame, name: str) -> str:
    """``report.md`` of a comparison: how it was produced (command, date, versions, machine,
    folds, parameters), then one table per cut-off with every main metric.

    Args:
        payload: The comparison's ``results.json`` record.
        summary: :meth:`~tfrec.evaluation.harness.EvaluationResult.summary`.
        intervals: :meth:`~tfrec.evaluation.harness.EvaluationResult.intervals`.
        name: The data set's name.
    """
    run = payload["run"]
    header = (f"# tfrec compare: {name}\n\n"
              f"- command: `{run['command']}`\n- date: {run['date']}; seed {run['seed']}\n"
              f"- tfrec {run['versions']['tfrec']} (commit {run['git_commit'] or 'not a checkout'}), "
              + ", ".join(f"{k} {v}" for k, v in run["versions"].items() if k != "tfrec") + "\n"
              f"- machine: {run['cpu']}, {run['cores']} cores\n"
              f"- split `{payload['split']}`: " + "; ".join(f"{s['name']} train {s['train']:,} / test {s['test']:,}"
                                                    for s in payload["folds"]) + "\n"
              + "".join(f"- {m}: {p['source']} {p['values'] or ''}\n" for m, p in run["params"].items())
              + (f"- {sampled_note(payload['sampled_users'])}\n" if payload["sampled_users"] else "")
              + "\nMean ± std over folds; 95% CI: per-user bootstrap (1,000 resamples); vs best: paired "
                "Wilcoxon signed-rank over users, Holm-corrected (≈best: not significantly different).\n\n")
    return (header + "\n\n".join(f"## k = {k}\n\n" + to_markdown(comparison_table(summary, k, intervals))
                                   for k in payload["ks"]) + "\n")
