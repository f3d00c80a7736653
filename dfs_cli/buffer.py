"""``dfs buffer``: ingest buffers from the shell.

    dfs buffer create PATH --max-bytes N      a directory that fills with records
    dfs buffer post PATH FILE [--suffix S]    one record (FILE "-": standard input)
    dfs buffer stat PATH [--json]             n_itm, buff_size, dstatus (OPERATIONAL / FROZEN) and who froze it
    dfs buffer list PATH                      its records, oldest first
    dfs buffer log PATH                       what happened to it (created, frozen, released)
    dfs buffer freeze PATH [--force]          read-only for a consumer; refused below --max-bytes unless forced
    dfs buffer release PATH [--force] [--archive-dir DIR]
                                              the batch becomes PATH.<UTC time>, an empty buffer starts

``register(subparsers)`` adds the command to ``dfs``'s parser; each handler takes ``(args, target)``
and ``dfs_cli.main`` is the error boundary (one line on standard error, exit status 1).
"""
from __future__ import annotations

import argparse
import json
import posixpath
import sys
import time
from typing import Any

from .commands import client as _client
from .config import Target


def _when(ns: int | None) -> str:
    if not ns:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ns / 1e9))


def _print(args: argparse.Namespace, value: Any, text: str) -> None:
    print(json.dumps(value, indent=2, sort_keys=True) if args.json else text)


def status_text(status: dict[str, Any]) -> str:
    share = 100.0 * status["buff_size"] / status["max_bytes"] if status["max_bytes"] else 0.0
    line = (f"{status['path']}: {status['dstatus']}, {status['n_itm']} records, {status['buff_size']} of "
            f"{status['max_bytes']} bytes ({share:.0f}%)")
    if status.get("frozen_by"):
        line += f", frozen by {status['frozen_by']} at {_when(status.get('frozen_at'))}"
    return line


def do_create(args: argparse.Namespace, target: Target) -> int:
    with _client(target) as nn:
        status = nn.create_buffer(args.path, args.max_bytes)
    _print(args, status, status_text(status))
    return 0


def do_post(args: argparse.Namespace, target: Target) -> int:
    suffix = args.suffix if args.suffix is not None else (
        "" if args.file == "-" else posixpath.splitext(args.file)[1])
    with _client(target) as nn:
        if args.file == "-":
            record = nn.post_record(args.path, sys.stdin.buffer, suffix=suffix)
        else:
            with open(args.file, "rb") as source:
                record = nn.post_record(args.path, source, suffix=suffix)
    _print(args, record, record["path"])
    return 0


def do_stat(args: argparse.Namespace, target: Target) -> int:
    with _client(target) as nn:
        status = nn.buffer_status(args.path)
    _print(args, status, status_text(status))
    return 0


def do_list(args: argparse.Namespace, target: Target) -> int:
    with _client(target) as nn:
        nn.buffer_status(args.path)  # a plain directory is an error, not a listing
        records = [{"name": s["pathSuffix"], "length": s["length"], "type": s["type"]}
                   for s in nn.list_status(args.path)]
    _print(args, records, "\n".join(f"{r['length']:>12} {r['name']}" for r in records))
    return 0


def do_log(args: argparse.Namespace, target: Target) -> int:
    with _client(target) as nn:
        entries = list(nn.buffer_log(args.path))
    lines = []
    for entry in entries:
        detail = " ".join(f"{k}={v}" for k, v in entry.items() if k not in ("seq", "time", "user", "event"))
        lines.append(f"{_when(entry['time'])} {entry['user']} {entry['event']} {detail}".rstrip())
    _print(args, entries, "\n".join(lines))
    return 0


def do_freeze(args: argparse.Namespace, target: Target) -> int:
    with _client(target) as nn:
        status = nn.freeze_buffer(args.path, force=args.force)
    _print(args, status, status_text(status))
    return 0


def do_release(args: argparse.Namespace, target: Target) -> int:
    with _client(target) as nn:
        status = nn.release_buffer(args.path, force=args.force, archive_dir=args.archive_dir)
    _print(args, status, f"{status['archive']}: {status['archived_n_itm']} records, "
                         f"{status['archived_buff_size']} bytes\n{status_text(status)}")
    return 0


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``buffer`` and its subcommands to ``dfs``'s ``subparsers``."""
    parser = subparsers.add_parser("buffer", help="ingest buffers: create, post, stat, list, log, freeze, release",
                                   description=__doc__.split("\n\n")[1] if __doc__ else None,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    def action(name: str, handler: Any, help_text: str) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help_text)
        sub.add_argument("path", metavar="PATH")
        sub.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON")
        sub.set_defaults(handler=handler)
        return sub

    action("create", do_create, "make PATH a buffer").add_argument(
        "--max-bytes", type=_positive, required=True, metavar="N", help="the size at which it may be frozen")
    post = action("post", do_post, "post FILE as one record")
    post.add_argument("file", metavar="FILE", help='the record ("-": standard input)')
    post.add_argument("--suffix", help="the record name's suffix (default: FILE's extension)")
    action("stat", do_stat, "n_itm, buff_size, dstatus")
    action("list", do_list, "the records")
    action("log", do_log, "the buffer's events")
    action("freeze", do_freeze, "make it read-only").add_argument(
        "--force", action="store_true", help="even below the threshold")
    release = action("release", do_release, "archive the batch, start an empty buffer")
    release.add_argument("--force", action="store_true", help="even if it is not frozen")
    release.add_argument("--archive-dir", metavar="DIR", help="where the archive goes (default: beside PATH)")
    return parser


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value}")
    return value
