"""``tfrec train``: train the two-tower model on a split or on streamed shards, and save the run."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from tfrec.cli.common import add_data_options, load
from tfrec.errors import TfrecError

#: ``tfrec train``'s validation carve and early-stopping patience unless the config sets them.
DEFAULT_VALIDATION_RATIO = 0.1
DEFAULT_PATIENCE = 3


def cmd_train(args: argparse.Namespace) -> int:
    """Trains on a split of ``--data`` or on ``--train-files`` and writes the run folder."""
    from tfrec.model.training.distribute import is_chief, make_strategy

    # The strategy comes first: TensorFlow must not have initialized its devices yet.
    strategy = make_strategy(args.strategy, logical_cpus=args.logical_cpus)
    from tfrec.atomic import check_target, output_directory
    from tfrec.cli.backup import backup_path, fingerprint, prepare_backup
    from tfrec.data.sources import BatchSource, FileBatchSource, FrameSource
    from tfrec.evaluation.splits import make_splits
    from tfrec.model.config import ModelConfig
    from tfrec.model.training.evaluate import evaluate
    from tfrec.model.training.fit import train
    from tfrec.model.training.run_folder import save_run

    config = ModelConfig.from_toml(args.config) if args.config else ModelConfig()
    # An explicit --seed seeds the data, the split and the model, as in `tfrec compare`.
    changes = {"seed": args.seed if args.seed_given else None, "epochs": args.epochs,
               "batch_size": args.batch_size}
    config = config.replace(**{k: v for k, v in changes.items() if v is not None})
    if not args.no_validation and not args.validation_files and config.validation_ratio == 0:
        config = config.replace(validation_ratio=DEFAULT_VALIDATION_RATIO)
    refit = config.refit and not args.validation_files  # validation files are not trained on
    if config.validation_ratio > 0 or args.validation_files:
        if args.no_validation:
            config = config.replace(validation_ratio=0.0, early_stopping_patience=None)
        elif config.early_stopping_patience is None and not refit:
            config = config.replace(early_stopping_patience=DEFAULT_PATIENCE)
    if args.shuffle_buffer < 1:
        raise TfrecError(f"--shuffle-buffer must be at least 1, got {args.shuffle_buffer}")
    chief = is_chief(strategy)
    out = Path(args.out)
    if chief:
        check_target(out, overwrite=args.overwrite)  # before loading data or training
    verbose = 1 if sys.stdout.isatty() else 2
    if args.no_validation:
        print("validation: off (--no-validation); every epoch is kept")
    else:
        carved = (f"--validation-files {args.validation_files}" if args.validation_files else
                  f"{config.validation_ratio:.0%} of the training rows (seeded)")
        stopping = ("every epoch validated" if config.early_stopping_patience is None else
                    f"early stopping after {config.early_stopping_patience} epochs without improvement")
        kept = "then trained again on all rows for the best epoch's count" if refit else "best epoch restored"
        print(f"validation: {carved}; {stopping}, {kept} (--no-validation turns this off)")
    validation: BatchSource | None = None
    test: BatchSource | None = None
    if args.train_files:
        from tfrec.data.files import FileSource
        from tfrec.data.tabular import load_feature_tables, load_schema

        if not args.schema:
            raise TfrecError("--train-files needs --schema: a .json/.toml schema file or a built-in "
                             "name such as synthetic")
        schema = load_schema(args.schema)
        tables = load_feature_tables(schema, users=args.users, items=args.items, name=args.train_files)
        context = config.selected_features(schema, "context")

        def files(pattern: str) -> FileBatchSource:
            return FileBatchSource(tables, FileSource.from_pattern(pattern, schema, context),
                                   invalid=args.invalid, shuffle_buffer=args.shuffle_buffer)

        batches: BatchSource = files(args.train_files)
        validation = files(args.validation_files) if args.validation_files else None
        test = files(args.eval_files) if args.eval_files else None
    else:
        tables = load(args)
        split = make_splits(tables, args.split, seed=args.seed, folds=args.fold and [args.fold])[0]
        batches = FrameSource(tables, split.train, split.name)
        test = FrameSource(tables, split.test, f"{split.name}-test")

    # The backup lives beside the output (not in the staging folder) so that a killed run can
    # be resumed with --resume; it is used only when it is a backup of this very run.
    backup = backup_path(out)  # other workers only name it (Keras gives them temporary copies)
    if chief:
        backup, resuming = prepare_backup(out, fingerprint(config, batches), resume=args.resume)
        if args.resume and not resuming:
            print(f"tfrec: no backup at {backup}; training from the start", file=sys.stderr)

    def run(checkpoints: Path):  # -> (TrainResult, test metrics)
        result = train(config, batches, validation, strategy=strategy, checkpoint_dir=checkpoints,
                       tensorboard_dir=args.tensorboard, backup_dir=backup, verbose=verbose)
        metrics = evaluate(result.model, test, catalog=result.catalog) if test is not None else {}
        return result, metrics

    if not chief:  # other workers train in step with the chief; only the chief writes --out
        with tempfile.TemporaryDirectory() as scratch:
            run(Path(scratch) / "checkpoints")
        print(f"worker done (the chief writes {out})")
        return 0
    with output_directory(out, kind="train", overwrite=args.overwrite) as staging:
        result, test_metrics = run(staging / "checkpoints")
        summary = {**batches.summary(), "rows": result.scan.rows}
        save_run(result, tables, staging, split_summary=summary, test_metrics=test_metrics)
    shutil.rmtree(backup, ignore_errors=True)  # the run is complete: nothing left to resume
    held = (f" ({result.validation_rows:,} more held out for validation)"
            if result.validation_rows and not result.refit else "")
    print(f"trained on {result.scan.rows:,} rows{held} in {result.seconds:.1f}s "
          f"({result.examples_per_second:,.0f} examples/s, {strategy.num_replicas_in_sync} "
          f"replica(s)); wrote {out}")
    if result.validation_rows:
        best = result.best_epoch
        ndcg = result.history.get("val_ndcg@10", [])
        score = f" (validation nDCG@10 {ndcg[best - 1]:.4f})" if len(ndcg) >= best else ""
        if result.refit:
            print(f"chose {best} of {len(result.history.get('loss', []))} epochs on {result.validation_rows:,} "
                  f"held-out rows{score}, then trained those epochs on all {result.scan.rows:,} rows")
        else:
            print(f"kept epoch {best} of {len(result.history.get('loss', []))}{score}")
    for name, value in sorted(test_metrics.items()):
        if name != "loss":  # a sum over each batch's rows: its scale depends on the batch size
            print(f"  test {name:45} {value:.4f}")
    if "retrieval_loss" in test_metrics:
        print("  (retrieval_loss: softmax cross-entropy per example, on the same scale as the training "
              "log's; loss there is the objective per batch)")
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Adds this module's subcommands to the ``tfrec`` parser."""
    train = commands.add_parser("train", help="train the two-tower model and save it")
    add_data_options(train)
    train.add_argument("--config", default=None, help="model config TOML (see ModelConfig)")
    train.add_argument("--out", required=True, help="output folder for the trained model")
    train.add_argument("--split", default="random", help="split method (default: random 80/20)")
    train.add_argument("--fold", default=None, help="predefined fold name, e.g. u1")
    train.add_argument("--epochs", type=int, default=None, help="override the config's epochs")
    train.add_argument("--tensorboard", default=None,
                       help="TensorBoard log folder: scalars per epoch and the item embeddings in "
                            "the projector (titles as labels)")
    train.add_argument("--no-validation", action="store_true",
                       help="train every epoch without the default validation carve (10%% of the "
                            "training rows) and early stopping")
    train.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    train.add_argument("--resume", action="store_true",
                       help="continue a killed run from its last epoch backup (same --out)")
    train.add_argument("--batch-size", type=int, default=None,
                       help="override the config's global batch size (split across replicas)")
    stream = train.add_argument_group(
        "streaming input", "train from sharded interaction files without loading them whole "
                           "(--schema names the columns; --users/--items are the feature tables)")
    stream.add_argument("--train-files", default=None,
                        help="glob(s), files or folder of .parquet/.csv/.tfrecord shards")
    stream.add_argument("--eval-files", default=None, help="held-out files evaluated after training")
    stream.add_argument("--validation-files", default=None,
                        help="validation files (default: validation_ratio of the training rows, "
                             "carved by a seeded hash of (user, item), when the config sets it)")
    stream.add_argument("--shuffle-buffer", type=int, default=100_000,
                        help="rows in the shuffle buffer (default 100,000)")
    dist = train.add_argument_group("distribution", "tf.distribute strategies")
    dist.add_argument("--strategy", choices=("default", "mirrored", "multiworker"), default="default",
                      help="default: one device; mirrored: all local GPUs (or --logical-cpus); "
                           "multiworker: MultiWorkerMirroredStrategy over the cluster in TF_CONFIG")
    dist.add_argument("--logical-cpus", type=int, default=None,
                      help="split the CPU into this many logical devices (mirrored without GPUs)")
    train.set_defaults(func=cmd_train)
