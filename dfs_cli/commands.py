"""The file commands: put, get, ls, cat, mkdir, mv, cp, rm, du, df, stat, chmod, chown, setrep,
exists, evict."""
from __future__ import annotations

import argparse
import posixpath
import stat as stat_module
import sys
import time
from collections.abc import Iterator, Mapping
from typing import Any

from dfs_client import HttpNameNode, Transport
from dfs_common.errors import NotFound
from dfs_common.filestatus import FileStatus
from dfs_common.paths import normalize

from . import transfer
from .config import CliError, Target
from .progress import Progress, on_terminal

PARALLEL = 4  # files moved at once by put/get: enough to fill a LAN link with small files


def client(target: Target) -> HttpNameNode:
    transport = Transport(ca_bundle=target.tls_ca) if target.tls_ca else None
    return HttpNameNode(target.url, user=target.user, token=target.token, transport=transport, site=target.site)


def human(size: float) -> str:
    for unit in ("B", "K", "M", "G", "T", "P"):
        if abs(size) < 1024 or unit == "P":
            return f"{size:.0f}{unit}" if unit == "B" else f"{size:.1f}{unit}"
        size /= 1024
    return f"{size}"


def _size(value: int, readable: bool) -> str:
    return human(value) if readable else str(value)


def _emit(args: argparse.Namespace, value: Any, text: str | None = None) -> None:
    from .main import emit
    emit(args, value, text)


_KIND_CHAR = {"DIRECTORY": "d", "SYMLINK": "l", "FILE": "-"}


def mode_string(status: Mapping[str, Any]) -> str:
    mode = int(status.get("permission", "0"), 8)
    kind = _KIND_CHAR.get(status["type"], {"FIFO": "p", "SOCKET": "s", "CHAR": "c", "BLOCK": "b"}.get(
        str(status.get("kind", "")).upper(), "?"))
    return kind + stat_module.filemode(mode)[1:]


def long_line(status: Mapping[str, Any], name: str, readable: bool) -> str:
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(status.get("modificationTime", 0) / 1000))
    replication = status.get("replication") or "-"
    link = f" -> {status['symlink']}" if status.get("symlink") else ""
    return (f"{mode_string(status)} {replication:>3} {status.get('owner', ''):<10} {status.get('group', ''):<10} "
            f"{_size(int(status.get('length', 0)), readable):>12} {when} {name}{link}")


# -- handlers ------------------------------------------------------------------------------------

def do_put(args: argparse.Namespace, target: Target) -> int:
    with client(target) as nn:
        moved = transfer.put(nn, args.sources, args.dest, recursive=args.recursive, parallel=args.parallel,
                             force=args.force, show=on_terminal() and not args.quiet)
    _emit(args, {"bytes": moved})
    return 0


def do_get(args: argparse.Namespace, target: Target) -> int:
    with client(target) as nn:
        moved = transfer.get(nn, args.sources, args.dest, recursive=args.recursive, parallel=args.parallel,
                             resume=args.resume, force=args.force or args.resume,
                             show=on_terminal() and not args.quiet)
    _emit(args, {"bytes": moved})
    return 0


def _listing(nn: HttpNameNode, path: str, recursive: bool, directory: bool) -> Iterator[tuple[str, FileStatus]]:
    status = nn.get_status(path)
    if status["type"] != "DIRECTORY" or directory:
        yield path, status
        return
    stack = [path]
    while stack:
        current = stack.pop()
        children = list(nn.list_status(current))
        found = []
        for child in children:
            full = posixpath.join(current, child["pathSuffix"])
            yield full, child
            if recursive and child["type"] == "DIRECTORY":
                found.append(full)
        stack.extend(reversed(found))


def do_ls(args: argparse.Namespace, target: Target) -> int:
    entries = []
    with client(target) as nn:
        for path in args.paths or ["/"]:
            path = normalize(path)
            for full, status in _listing(nn, path, args.recursive, args.directory):
                entries.append(dict(status, path=full))
                if not args.json:
                    name = full if args.recursive or len(args.paths) > 1 else (status["pathSuffix"] or full)
                    print(long_line(status, name, args.human) if args.long else name)
    if args.json:
        _emit(args, entries)
    return 0


def do_cat(args: argparse.Namespace, target: Target) -> int:
    out = sys.stdout.buffer
    with client(target) as nn:
        for path in args.paths:
            with nn.open(path, "rb") as handle:
                while chunk := handle.read(transfer.CHUNK):
                    out.write(chunk)
    out.flush()
    return 0


def do_mkdir(args: argparse.Namespace, target: Target) -> int:
    with client(target) as nn:
        for path in args.paths:
            nn.mkdirs(path, parents=args.parents)
    return 0


def do_mv(args: argparse.Namespace, target: Target) -> int:
    with client(target) as nn:
        nn.mv(args.source, args.dest)
    return 0


def do_cp(args: argparse.Namespace, target: Target) -> int:
    with client(target) as nn:
        status = nn.get_status(args.source)
        if status["type"] == "DIRECTORY" and not args.recursive:
            raise CliError(f"{args.source}: is a directory (use cp -r)")
        nn.cp(args.source, args.dest)
    return 0


def do_rm(args: argparse.Namespace, target: Target) -> int:
    with client(target) as nn:
        for path in args.paths:
            try:
                status = nn.get_status(path)
            except NotFound:
                if args.force:
                    continue
                raise
            if status["type"] == "DIRECTORY" and not args.recursive:
                raise CliError(f"{path}: is a directory (use rm -r)")
            if not nn.delete(path, recursive=args.recursive) and not args.force:
                raise NotFound(f"File does not exist: {path}")
    return 0


def do_du(args: argparse.Namespace, target: Target) -> int:
    rows = []
    with client(target) as nn:
        for path in args.paths or ["/"]:
            path = normalize(path)
            status = nn.get_status(path)
            if args.summarize or status["type"] != "DIRECTORY":
                items = [path]
            else:
                items = [posixpath.join(path, child["pathSuffix"]) for child in nn.list_status(path)]
            for item in items:
                summary = nn.content_summary(item)
                rows.append({"path": item, "length": summary["length"],
                             "spaceConsumed": summary["spaceConsumed"],
                             "files": summary["fileCount"], "directories": summary["directoryCount"]})
    for row in rows:
        if not args.json:
            print(f"{_size(row['length'], args.human):>12} {_size(row['spaceConsumed'], args.human):>12}  {row['path']}")
    if args.json:
        _emit(args, rows)
    return 0


def do_df(args: argparse.Namespace, target: Target) -> int:
    with client(target) as nn:
        df = nn.df()
    capacity = df.get("capacity", 0)
    use = 100.0 * df.get("used", 0) / capacity if capacity else 0.0
    _emit(args, df, f"{'Size':>12} {'Used':>12} {'Available':>12} {'Use%':>5}  Nodes\n"
                    f"{_size(capacity, args.human):>12} {_size(df.get('used', 0), args.human):>12} "
                    f"{_size(df.get('remaining', 0), args.human):>12} {use:>4.0f}%  "
                    f"{df.get('datanodes_alive', 0)} alive, {df.get('datanodes_dead', 0)} dead")
    return 0


def do_stat(args: argparse.Namespace, target: Target) -> int:
    with client(target) as nn:
        statuses: list[dict[str, Any]] = [dict(nn.get_status(path), path=normalize(path)) for path in args.paths]
    if args.json:
        _emit(args, statuses if len(statuses) > 1 else statuses[0])
        return 0
    for status in statuses:
        print(f"  File: {status['path']}\n  Type: {status['type'].lower()}  Size: {status['length']}  "
              f"Replication: {status['replication']}  Block size: {status['blockSize']}\n"
              f"  Mode: {status['permission']} ({mode_string(status)})  Owner: {status['owner']}  "
              f"Group: {status['group']}  Id: {status['fileId']}\n"
              f"Modify: {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(status['modificationTime'] / 1000))}")
    return 0


def _each(nn: HttpNameNode, paths: list[str], recursive: bool) -> list[tuple[str, FileStatus]]:
    found: list[tuple[str, FileStatus]] = []
    for path in paths:
        path = normalize(path)
        status = nn.get_status(path)
        found.append((path, status))
        if recursive and status["type"] == "DIRECTORY":
            found.extend(transfer._walk(nn, path))
    return found


def _apply(args: argparse.Namespace, target: Target, what: str, change: Any, files_only: bool = False) -> int:
    with client(target) as nn:
        entries = _each(nn, args.paths, args.recursive)
        if files_only:
            entries = [(path, status) for path, status in entries if status["type"] == "FILE"]
        show = args.recursive and on_terminal()
        with Progress(len(entries), "entries", what, show) as progress:
            for path, _ in entries:
                change(nn, path)
                progress.update()
    _emit(args, {"changed": len(entries)})
    return 0


def do_chmod(args: argparse.Namespace, target: Target) -> int:
    try:
        mode = int(args.mode, 8)
    except ValueError:
        raise CliError(f"invalid mode {args.mode!r} (octal, e.g. 755)") from None
    if not 0 <= mode <= 0o7777:
        raise CliError(f"invalid mode {args.mode!r} (octal, at most 7777)")
    return _apply(args, target, "chmod", lambda nn, path: nn.set_permission(path, mode))


def do_chown(args: argparse.Namespace, target: Target) -> int:
    owner, _, group = args.owner.partition(":")
    if not owner and not group:
        raise CliError(f"invalid owner {args.owner!r} (OWNER[:GROUP] or :GROUP)")
    return _apply(args, target, "chown", lambda nn, path: nn.set_owner(path, owner or None, group or None))


def do_setrep(args: argparse.Namespace, target: Target) -> int:
    if args.replication < 1:
        raise CliError(f"replication must be at least 1, not {args.replication}")
    args.recursive = True  # HDFS's setrep applies to every file below a directory
    code = _apply(args, target, "setrep", lambda nn, path: nn.set_replication(path, args.replication),
                  files_only=True)
    if args.wait:
        with client(target) as nn:
            for path in args.paths:
                while (report := nn.fsck(path))["under_replicated"] or report["over_replicated"]:
                    time.sleep(0.5)
    return code


def do_exists(args: argparse.Namespace, target: Target) -> int:
    with client(target) as nn:
        try:
            nn.get_status(args.path)
            found = True
        except NotFound:
            found = False
    _emit(args, {"exists": found}, "true" if found else "false")
    return 0 if found else 1


def do_evict(args: argparse.Namespace, target: Target) -> int:
    """DynoStore's ``evict``: remove stored objects (files; a directory needs ``rm -r``)."""
    with client(target) as nn:
        for path in args.paths:
            nn.rm(path)
    return 0


def do_storagepolicy(args: argparse.Namespace, target: Target) -> int:
    """HDFS's ``storagepolicies``: list the policies, show, set or unset a path's."""
    with client(target) as nn:
        if args.path is None:
            policies = nn.storage_policies()
            _emit(args, policies, "\n".join(f"{p['name']}\t{','.join(p['storageTypes'])}" for p in policies))
            return 0
        if args.unset:
            nn.unset_storage_policy(args.path)
        elif args.policy:
            nn.set_storage_policy(args.path, args.policy)
        policy = nn.get_storage_policy(args.path)
    _emit(args, policy, policy["name"])
    return 0


def register(sub: Any) -> None:
    def command(name: str, handler: Any, help_text: str) -> argparse.ArgumentParser:
        parser = sub.add_parser(name, help=help_text, description=help_text)
        parser.set_defaults(handler=handler)
        return parser

    for name, handler, text in (("put", do_put, "copy local files or trees (-r) into DFS"),
                                ("get", do_get, "copy files or trees (-r) out of DFS")):
        p = command(name, handler, text)
        p.add_argument("-r", "-R", "--recursive", action="store_true", help="directories and their contents")
        p.add_argument("-f", "--force", action="store_true", help="replace existing files")
        p.add_argument("-p", "--parallel", type=int, default=PARALLEL, help=f"files at once (default {PARALLEL})")
        p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
        if name == "get":
            p.add_argument("-c", "--continue", dest="resume", action="store_true",
                           help="resume interrupted downloads (their .dfs-part files)")
        p.add_argument("sources", nargs="+", metavar="SOURCE")
        p.add_argument("dest", metavar="DEST")
    p = command("ls", do_ls, "list directories")
    p.add_argument("-l", dest="long", action="store_true", help="long format")
    p.add_argument("-R", dest="recursive", action="store_true", help="recursively (full paths)")
    p.add_argument("-d", dest="directory", action="store_true", help="directories themselves, not their contents")
    p.add_argument("-H", "--human", action="store_true", help="sizes in K, M, G")
    p.add_argument("paths", nargs="*", metavar="PATH")
    p = command("cat", do_cat, "print files")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p = command("mkdir", do_mkdir, "make directories")
    p.add_argument("-p", dest="parents", action="store_true", help="make parents, no error if existing")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p = command("mv", do_mv, "move or rename")
    p.add_argument("source")
    p.add_argument("dest")
    p = command("cp", do_cp, "copy within DFS")
    p.add_argument("-r", "-R", dest="recursive", action="store_true", help="directories too")
    p.add_argument("source")
    p.add_argument("dest")
    p = command("rm", do_rm, "remove files (and directories with -r)")
    p.add_argument("-r", "-R", dest="recursive", action="store_true")
    p.add_argument("-f", dest="force", action="store_true", help="no error for missing paths")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p = command("du", do_du, "bytes used below paths (length, then with replicas)")
    p.add_argument("-s", dest="summarize", action="store_true", help="one total per path")
    p.add_argument("-H", "--human", action="store_true")
    p.add_argument("paths", nargs="*", metavar="PATH")
    p = command("df", do_df, "the cluster's capacity")
    p.add_argument("-H", "--human", action="store_true")
    p = command("stat", do_stat, "a path's status")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p = command("chmod", do_chmod, "change permission bits (octal)")
    p.add_argument("-R", dest="recursive", action="store_true")
    p.add_argument("mode")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p = command("chown", do_chown, "change owner and group")
    p.add_argument("-R", dest="recursive", action="store_true")
    p.add_argument("owner", metavar="OWNER[:GROUP]")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p = command("setrep", do_setrep, "change the replication of files (every file below a directory)")
    p.add_argument("-w", dest="wait", action="store_true", help="wait until the replicas are there")
    p.add_argument("replication", type=int)
    p.add_argument("paths", nargs="+", metavar="PATH")
    p = command("storagepolicy", do_storagepolicy,
                "where a path's replicas live: HOT (any root), ALL_LOCAL (disks only), ONE_S3 (one in a bucket); "
                "no PATH: list them")
    p.add_argument("--unset", action="store_true", help="back to the directory's (inherited) policy")
    p.add_argument("path", nargs="?", metavar="PATH")
    p.add_argument("policy", nargs="?", metavar="POLICY", help="set this policy (existing files move too)")
    p = command("exists", do_exists, "exit 0 if a path exists, 1 if not")
    p.add_argument("path")
    p = command("evict", do_evict, "remove stored objects (files)")
    p.add_argument("paths", nargs="+", metavar="PATH")
