"""Evaluation: the shared splits, the metrics, the harness that runs every model through the
same code path, and the reports and plots of its results."""

from tfrec.evaluation.harness import EvaluationResult, evaluate, evaluate_split, item_feature_vectors
from tfrec.evaluation.splits import SPLIT_METHODS, Split, make_splits

__all__ = ["SPLIT_METHODS", "EvaluationResult", "Split", "evaluate", "evaluate_split",
           "item_feature_vectors", "make_splits"]
