"""The ``tfrec`` command line. Only this package prints; the library logs."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from typing import Any, NoReturn

from tfrec import __version__
from tfrec.cli import compare, data, report, serve, train, tune
from tfrec.cli.common import resolve_seed
from tfrec.errors import TfrecError


def quiet_tensorflow(verbose: int) -> None:
    """Silences TensorFlow's C++ and Python logs unless ``-v`` (or the user's own
    ``TF_CPP_MIN_LOG_LEVEL``); call before TensorFlow is imported."""
    if verbose == 0:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
        logging.getLogger("absl").setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", module="tensorflow|tf_keras|keras|tensorflow_recommenders")


class _Formatter(logging.Formatter):
    """tfrec's own warnings read like its errors (``tfrec: warning: ...``); the rest as given."""

    def format(self, record: logging.LogRecord) -> str:
        if record.levelno == logging.WARNING and record.name.startswith("tfrec"):
            return f"tfrec: warning: {record.getMessage()}"
        return super().format(record)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record is emitted (not when it was created)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


class Parser(argparse.ArgumentParser):
    """argparse with tfrec's error format: one line, ``tfrec: error: ...``, exit code 2."""

    def error(self, message: str) -> NoReturn:
        command = self.prog.removeprefix("tfrec").strip()
        hint = f"tfrec {command} --help" if command else "tfrec --help"
        self.exit(2, f"tfrec: error: {' '.join(message.split())} (see {hint})\n")


def build_parser() -> argparse.ArgumentParser:
    """Returns the ``tfrec`` argument parser."""
    parser = Parser(
        prog="tfrec",
        description="Two-tower recommenders on TensorFlow Recommenders, compared honestly "
                    "against classic baselines.",
    )
    parser.add_argument("--version", action="version", version=f"tfrec {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more log output (-v: tfrec's and TensorFlow's logs; -vv: debug)")
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an unexpected error (also: TFREC_DEBUG=1)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    for module in (data, compare, report, tune, serve, train):
        module.add_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs the CLI; returns the process exit code (2 for usage and data errors)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    # Before the parser is built: building it imports the model registry, and with it TensorFlow.
    quiet_tensorflow(sum(a.count("v") for a in argv if a.startswith("-v") and set(a[1:]) == {"v"})
                     + argv.count("--verbose"))
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors (already printed)
        return exc.code if isinstance(exc.code, int) else 2
    root = logging.getLogger()
    if not any(isinstance(h, _StderrHandler) for h in root.handlers):  # once per process
        handler = _StderrHandler()
        handler.setFormatter(_Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.WARNING - 10 * min(args.verbose, 2))
    resolve_seed(args)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        return func(args)
    except TfrecError as exc:
        print(f"tfrec: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the system refused (disk full, permission, name too long): not a bug
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"tfrec: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug: one line, the traceback only on request
        if args.debug or os.environ.get("TFREC_DEBUG") == "1":
            raise
        detail = str(exc).splitlines()[0][:300] if str(exc) else ""
        print(f"tfrec: error: unexpected {type(exc).__name__}: {detail} -- this is a bug in tfrec; "
              "rerun with --debug (or TFREC_DEBUG=1) to see the traceback and report it",
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
