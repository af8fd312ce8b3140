"""The run folder's training-curve figure."""

from tfrec.model.training.run_folder import plot_history


def _lines(ax):
    return {line.get_label(): list(line.get_ydata()) for line in ax.get_lines()}


def test_history_figure_pairs_training_with_validation_and_marks_the_kept_epoch():
    history = {"loss": [900.0, 800.0, 850.0], "retrieval_loss": [6.2, 6.0, 5.9], "rmse": [1.1, 1.0, 0.95],
               "val_loss": [200.0, 190.0, 195.0], "val_retrieval_loss": [6.3, 6.1, 6.2],
               "val_rmse": [1.2, 1.1, 1.15], "val_ndcg@10": [0.1, 0.2, 0.15]}
    fig = plot_history(history, best_epoch=2)
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["retrieval loss per example (lower is better)",
                                              "RMSE (lower is better)", "nDCG@10 (higher is better)"]
    loss = _lines(axes[0])
    assert loss["training"] == [6.2, 6.0, 5.9] and loss["validation"] == [6.3, 6.1, 6.2]
    assert "loss" not in loss, "the per-batch sum is not drawn beside the per-example loss"
    assert _lines(axes[2])["validation"] == [0.1, 0.2, 0.15]
    assert all("kept: epoch 2" in _lines(ax) for ax in axes)


def test_history_figure_without_retrieval_draws_the_loss_and_topk():
    history = {"loss": [2.0, 1.5], "val_factorized_top_k/top_10_categorical_accuracy": [0.1, 0.2],
               "val_factorized_top_k/top_5_categorical_accuracy": [0.05, 0.1]}
    fig = plot_history(history)
    assert [ax.get_title() for ax in fig.axes] == ["loss (lower is better)",
                                                  "validation top-k accuracy (higher is better)"]
    assert list(_lines(fig.axes[1])) == ["top_5", "top_10"]
