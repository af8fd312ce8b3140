"""``tfrec export`` and ``tfrec recommend``: a SavedModel with a top-k index, and its answers."""

from __future__ import annotations

import argparse
import json

from tfrec.errors import TfrecError


def cmd_export(args: argparse.Namespace) -> int:
    from tfrec.serving import export_model

    out = export_model(args.model, args.out, index=args.index, k=args.k,
                       max_exclude=args.max_exclude, overwrite=args.overwrite)
    seen = json.loads((out / "tfrec_export.json").read_text()).get("seen") or {}
    print(f"exported {args.model} to {out} ({args.index} index, k={args.k}); training items left out of "
          f"recommendations: {seen.get('pairs', 0):,} (user, item) pairs of {seen.get('users', 0):,} users, "
          f"{seen.get('bytes', 0) / 2**20:.1f} MB in the SavedModel")
    return 0


def _parse_features(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    pairs = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        if not sep or not name.strip():
            raise TfrecError(f"--features takes name=value pairs separated by commas, got {part!r}")
        pairs[name.strip()] = value.strip()
    return pairs


def cmd_recommend(args: argparse.Namespace) -> int:
    from tfrec.serving import ExportedModel

    served = ExportedModel(args.model)
    overrides = _parse_features(args.features)
    features = served.user_features(args.user, overrides)
    exclude = [v.strip() for v in args.exclude.split(",")] if args.exclude else None
    if args.history is not None:
        if args.exclude or args.include_seen:
            raise TfrecError("--history does not combine with --exclude or --include-seen (the given items "
                             "are left out)")
        history = [v.strip() for v in args.history.split(",") if v.strip()]
        if not history:
            raise TfrecError("--history needs item ids separated by commas, e.g. --history 50,172,181")
        found, found_scores = served.recommend_from_history(history, k=args.k, features=features)
        ids, scores, status = found[None, :], found_scores[None, :], "history"
    else:
        ids, scores, known = served.recommend_with_status(features, k=args.k, exclude=exclude,
                                                          include_seen=args.include_seen)
        status = ("known" if known[0] else "cold (features only)") if args.user is not None else "features only"
    item_column = served.info.item_id
    catalog = served.catalog.copy()
    catalog["_key"] = catalog[item_column].astype(str)
    details = catalog.set_index("_key")
    rows = []
    for item, score in zip(ids[0], scores[0], strict=True):
        row = {"item_id": item.item() if hasattr(item, "item") else item, "score": float(score)}
        if str(item) in details.index:  # column by column: a row Series would upcast ints to floats
            row.update({c: _plain(details.at[str(item), c]) for c in details.columns if c != item_column})
        rows.append(row)
    if args.json:
        print(json.dumps({"user": args.user, "user_status": status.split(" ")[0],
                          **({"history": history} if args.history is not None else {}),
                          "seen_items_excluded": not args.include_seen, "features": overrides, "k": args.k,
                          "recommendations": rows}, indent=2, default=str, ensure_ascii=False))
        return 0
    title = next((c for c in ("title", "name") if c in catalog.columns), None)
    seen_note = "training items included" if args.include_seen else "training items left out"
    if args.history is not None:
        who = f"user {args.user}" if args.user is not None else "a new user"
        print(f"top {args.k} for {who} with {len(history)} history item(s) [served from the "
              "history; its items left out]:")
    else:
        print(f"top {args.k} for user {args.user if args.user is not None else '(features only)'} "
              f"[{status}; {seen_note}]:")
    for rank, row in enumerate(rows, start=1):
        label = row.get(title, "") if title else ", ".join(
            f"{c}={row[c]:.6g}" if isinstance(row[c], float) else f"{c}={row[c]}" for c in list(row)[2:6])
        print(f"{rank:3}. {str(row['item_id']):>8}  {row['score']:8.4f}  {label}")
    return 0


def _plain(value):
    """A catalog cell as a plain Python value (NumPy scalars unwrapped)."""
    return value.item() if hasattr(value, "item") else value


def cmd_serve(args: argparse.Namespace) -> int:
    """Serves an export over HTTP until interrupted."""
    from tfrec.serving.http import serve

    if not 1 <= args.max_batch <= 4096 or not 0 <= args.max_wait_ms <= 1000:
        raise TfrecError("--max-batch must be from 1 to 4096 and --max-wait-ms from 0 to 1000")
    if not 0 <= args.port <= 65535:
        raise TfrecError(f"--port must be from 0 to 65535, got {args.port}")
    if not 1 <= args.workers <= 64:
        raise TfrecError(f"--workers must be from 1 to 64, got {args.workers}")
    print(f"serving {args.model} on http://{args.host}:{args.port} (page at /, JSON at /recommend)")
    serve(args.model, host=args.host, port=args.port, max_batch=args.max_batch, max_wait_ms=args.max_wait_ms,
          workers=args.workers)
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Adds this module's subcommands to the ``tfrec`` parser."""
    export = commands.add_parser("export", help="export a trained model as a SavedModel with a top-k index")
    export.add_argument("--model", required=True, help="the --out folder of `tfrec train`")
    export.add_argument("--out", required=True, help="export folder")
    export.add_argument("--index", choices=("brute-force", "scann"), default="brute-force",
                        help="top-k index: brute-force (exact, plain TF ops) or scann (approximate, fast "
                             "on large catalogs; needs the scann extra)")
    export.add_argument("-k", "--k", type=int, default=100, help="items per recommend call (default 100)")
    export.add_argument("--max-exclude", type=int, default=100,
                        help="how many item ids one request may exclude (default 100)")
    export.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    export.set_defaults(func=cmd_export)

    recommend = commands.add_parser("recommend", help="top-k items from an exported model")
    recommend.add_argument("--model", required=True, help="export folder of `tfrec export`")
    recommend.add_argument("--user", default=None, help="user id (unknown ids are served too)")
    recommend.add_argument("--features", default=None,
                           help="user features, e.g. age=30,gender=F,occupation=writer")
    recommend.add_argument("--history", default=None,
                           help="serve a user from these item ids, comma-separated, oldest first "
                                "(models trained with history = true; with --user, they replace the "
                                "user's stored items); the items are left out")
    recommend.add_argument("-k", "--k", type=int, default=10, help="number of items (default 10)")
    recommend.add_argument("--exclude", default=None, help="item ids to leave out, comma-separated")
    recommend.add_argument("--include-seen", action="store_true",
                           help="also recommend items the user had in training (left out by default)")
    recommend.add_argument("--json", action="store_true", help="print JSON")
    recommend.set_defaults(func=cmd_recommend)

    http = commands.add_parser("serve", help="serve an export over HTTP (JSON API and a page)")
    http.add_argument("--model", required=True, help="export folder of `tfrec export`")
    http.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    http.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    http.add_argument("--max-batch", type=int, default=64, help="most requests answered by one call (default 64)")
    http.add_argument("--max-wait-ms", type=float, default=2.0,
                      help="longest wait for more requests to batch (default 2 ms)")
    http.add_argument("--workers", type=int, default=1,
                      help="server processes sharing the port, each with the export loaded (default 1; "
                           "one per core answers more requests per second, at that many times the memory)")
    http.set_defaults(func=cmd_serve)
