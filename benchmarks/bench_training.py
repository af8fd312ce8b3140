"""tfrec's ids-only two-tower against the hand-written TFRS tutorial model: training examples/s.

    python benchmarks/bench_training.py --data-dir ../shared/data/ml-100k   # fold u1, 3 repeats
    python benchmarks/bench_training.py --smoke                             # synthetic, seconds (CI)

Both train the same model: user and item id embeddings (dim 64), in-batch softmax retrieval,
Adagrad 0.1, the same batch size, metrics only in evaluation. The TFRS side is the basic
retrieval tutorial's model and pipeline (``from_tensor_slices`` → shuffle → batch → cache); the
tfrec side is ``tfrec.model.training.fit.train`` with the equivalent config. Repeats are interleaved (a
drift of the machine hits both alike); an epoch's time is taken after the first epoch (tracing)
and the median over repeats is reported with the ratio tfrec ÷ TFRS.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from stamp import stamp  # noqa: E402

DIM, LEARNING_RATE = 64, 0.1


def tfrs_tutorial(frame, batch: int, epochs: int, seed: int) -> list[float]:
    """The TFRS basic retrieval tutorial's model, trained on ``frame``; seconds per epoch."""
    import tensorflow as tf
    import tensorflow_recommenders as tfrs

    tf.keras.utils.set_random_seed(seed)
    users = frame["user_id"].astype(str).to_numpy()
    items = frame["item_id"].astype(str).to_numpy()
    user_vocabulary, item_vocabulary = np.unique(users), np.unique(items)

    class Model(tfrs.Model):
        def __init__(self) -> None:
            super().__init__()
            self.user_model = tf.keras.Sequential([tf.keras.layers.StringLookup(vocabulary=user_vocabulary),
                                                   tf.keras.layers.Embedding(len(user_vocabulary) + 1, DIM)])
            self.item_model = tf.keras.Sequential([tf.keras.layers.StringLookup(vocabulary=item_vocabulary),
                                                   tf.keras.layers.Embedding(len(item_vocabulary) + 1, DIM)])
            candidates = tf.data.Dataset.from_tensor_slices(item_vocabulary).batch(128).map(self.item_model)
            self.task = tfrs.tasks.Retrieval(metrics=tfrs.metrics.FactorizedTopK(candidates=candidates))

        def compute_loss(self, features, training=False):
            return self.task(self.user_model(features["user_id"]), self.item_model(features["item_id"]),
                             compute_metrics=not training)

    model = Model()
    model.compile(optimizer=tf.keras.optimizers.Adagrad(learning_rate=LEARNING_RATE))
    data = tf.data.Dataset.from_tensor_slices({"user_id": users, "item_id": items})
    data = data.shuffle(100_000, seed=seed).batch(batch).cache()
    times = EpochTimes()
    model.fit(data, epochs=epochs, verbose=0, callbacks=[times])
    return times.seconds


class EpochTimes:  # a Keras callback without subclassing at import time (TensorFlow loads lazily)
    def __new__(cls):
        import tensorflow as tf

        class _Times(tf.keras.callbacks.Callback):
            def __init__(self) -> None:
                super().__init__()
                self.seconds: list[float] = []

            def on_epoch_begin(self, epoch, logs=None):
                self._start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                self.seconds.append(time.perf_counter() - self._start)

        return _Times()


def tfrec_ids_only(dataset, frame, batch: int, epochs: int, seed: int) -> list[float]:
    """tfrec's training path with the tutorial's model as a config; seconds per epoch."""
    from tfrec.data.sources import FrameSource
    from tfrec.model.config import ModelConfig
    from tfrec.model.training.fit import train

    config = ModelConfig(history=False, use_user_id=True, user_features=(), item_features=(), context_features=(),
                         tower_layers=(), embedding_dim=DIM, id_embedding_dim=DIM, projection=False,
                         item_bias=False, rating_weight=0.0, negatives="in_batch", logq_correction=False,
                         optimizer="adagrad", learning_rate=LEARNING_RATE, batch_size=batch, epochs=epochs, seed=seed)
    return train(config, FrameSource(dataset, frame)).epoch_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="MovieLens 100k (fold u1); default: synthetic data")
    parser.add_argument("--batch-size", type=int, default=1024, help="both sides (default 1024)")
    parser.add_argument("--epochs", type=int, default=4, help="per run; the first is not timed (tracing)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs per side")
    parser.add_argument("--smoke", action="store_true", help="synthetic, one short repeat (CI)")
    parser.add_argument("--out", default=str(HERE / "results" / "training.json"), help="result JSON")
    args = parser.parse_args()

    import tfrec  # noqa: F401  (Keras 2 for TFRS)
    from tfrec.data import load_dataset, load_synthetic

    if args.smoke:
        dataset, frame = load_synthetic(300, 100, 4000, seed=1), None
        args.epochs, args.repeats = 2, 1
    elif args.data_dir:
        dataset = load_dataset("ml-100k", data_dir=args.data_dir)
        frame = dataset.folds["u1"][0]
    else:
        dataset = load_synthetic(20_000, 5_000, 500_000, seed=1)
        frame = None
    frame = dataset.interactions if frame is None else frame.reset_index(drop=True)
    speeds: dict[str, list[float]] = {"tfrs tutorial": [], "tfrec ids-only": []}
    for repeat in range(args.repeats):
        for name in speeds:
            seconds = (tfrs_tutorial(frame, args.batch_size, args.epochs, repeat) if name == "tfrs tutorial"
                       else tfrec_ids_only(dataset, frame, args.batch_size, args.epochs, repeat))
            speeds[name].append(len(frame) * (len(seconds) - 1) / sum(seconds[1:]))
            print(f"{name}: {speeds[name][-1]:,.0f} examples/s", flush=True)
    medians = {name: float(np.median(v)) for name, v in speeds.items()}
    ratio = medians["tfrec ids-only"] / medians["tfrs tutorial"]
    print(f"tfrec / TFRS: {ratio:.2f}x at batch {args.batch_size}, dim {DIM}")
    if not args.smoke:
        result = {**stamp(), "benchmark": "training", "rows": len(frame), "batch_size": args.batch_size,
                  "dim": DIM, "epochs": args.epochs, "repeats": args.repeats,
                  "examples_per_second": medians, "runs": speeds, "tfrec_over_tfrs": ratio}
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
