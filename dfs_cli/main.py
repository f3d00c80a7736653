"""``dfs [--namenode URL] [--user NAME] [--json] COMMAND ...``: the parser and the error boundary.

Every failure is one line on standard error (``dfs: COMMAND: reason``) and a non-zero exit: 1 for
an error of the operation, 2 for a command line that does not parse. ``--json`` prints what a
script wants (the server's own JSON objects) instead of text.
"""
from __future__ import annotations

import argparse
import errno
import json
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from dfs_common.errors import DFSError
from dfs_common.settings import ConfigError

from . import buffer, commands, operators
from .config import CliError, resolve


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error (the usage is ``dfs COMMAND --help``)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message}\n")


def build_parser() -> Parser:
    parser = Parser(prog="dfs", description="The DFS command line: files, trees and cluster operations.")
    parser.add_argument("--namenode", metavar="URL", help="the name node (else DFS_NAMENODE_URL, the config "
                        "file's namenode, http://127.0.0.1:8180)")
    parser.add_argument("--user", help="act as this user (else DFS_USER, the config file's user, your login)")
    parser.add_argument("--token", help="bearer token of a secured cluster (else DFS_TOKEN, the config file's token)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands.register(sub)
    operators.register(sub)
    buffer.register(sub)
    return parser


def _reason(error: BaseException) -> str:
    if isinstance(error, DFSError):
        return error.message
    if isinstance(error, OSError) and error.strerror:
        where = f"{error.filename}: " if error.filename else ""
        return f"{where}{error.strerror}"
    return str(error) or type(error).__name__


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    prog = f"dfs: {args.command}"
    try:
        target = resolve(args.namenode, args.user, token=args.token)
        return int(args.handler(args, target) or 0)
    except (CliError, ConfigError) as error:
        print(f"{prog}: {error}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `dfs cat big | head`
        return 0
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except (DFSError, OSError) as error:
        print(f"{prog}: {_reason(error)}".replace("\n", " "), file=sys.stderr)
        code = getattr(error, "errno", None)
        return 1 if code != errno.EPIPE else 0
    except ValueError as error:
        print(f"{prog}: {error}".replace("\n", " "), file=sys.stderr)
        return 1


def emit(args: argparse.Namespace, value: Any, text: str | None = None) -> None:
    """Print ``value`` as JSON under ``--json``, else ``text`` (when given)."""
    if args.json:
        print(json.dumps(value, indent=2, sort_keys=True))
    elif text is not None:
        print(text)
