"""The operators' commands: status, fsck, decommission, recommission, maintenance, balancer,
safemode, mount."""
from __future__ import annotations

import argparse
import time
from typing import Any

from .commands import _emit, client, human
from .config import CliError, Target
from .progress import Progress, on_terminal

POLL = 0.5  # seconds between looks at a running drain, balance or safe mode


def _node_lines(status: dict[str, Any]) -> list[str]:
    lines = [f"{'id':<18} {'state':<16} {'root':<7} {'site':<8} {'capacity':>10} {'used':>10} {'use%':>6} "
             f"{'blocks':>7}  url"]
    for node in status.get("datanodes", []):
        capacity = node.get("capacity", 0)
        use = 100.0 * node.get("used", 0) / capacity if capacity else 0.0
        lines.append(f"{node['id']:<18} {node['state']:<16} {node.get('root') or '-':<7} "
                     f"{node.get('site') or '-':<8} {human(capacity):>10} {human(node.get('used', 0)):>10} "
                     f"{use:>5.1f}% {node.get('blocks', 0):>7}  {node.get('public_url') or node.get('url')}")
    return lines


def do_status(args: argparse.Namespace, target: Target) -> int:
    with client(target) as nn:
        status = nn.status()
    name = status.get("namenode", {})
    safemode = status.get("safemode") or {}
    balancer = status.get("balancer") or {}
    text = "\n".join([
        f"name node {name.get('url', target.url)}: {name.get('files', 0)} files, "
        f"{name.get('directories', 0)} directories, {name.get('blocks', 0)} blocks; "
        f"{name.get('under_replicated', 0)} under-replicated, {name.get('missing', 0)} missing, "
        f"{name.get('corrupt', 0)} corrupt",
        f"safe mode: {'ON' if safemode.get('on') else 'off'}; balancer: {balancer.get('state', 'idle')}",
        *_node_lines(status)])
    _emit(args, status, text)
    return 0


def do_fsck(args: argparse.Namespace, target: Target) -> int:
    with client(target) as nn:
        report = nn.fsck(args.path)
    lines = [f"{p['path']} block {p['block']} ({p['blockId']}): {', '.join(p['issues'])}; "
             f"{p['replicas']} of {p['replication']} replicas" for p in report["problems"]]
    lines.append(f"{report['path']}: {report['status']}: {report['files']} files, {report['directories']} "
                 f"directories, {report['blocks']} blocks, {report['bytes']} bytes; missing {report['missing']}, "
                 f"under-replicated {report['under_replicated']}, over-replicated {report['over_replicated']}, "
                 f"mis-placed {report['mis_placed']}, corrupt {report['corrupt']}")
    _emit(args, report, "\n".join(lines))
    return 0 if report["status"] == "HEALTHY" else 1


def _state_of(nn: Any, node_id: str) -> dict[str, Any]:
    for node in nn.status().get("datanodes", []):
        if node["id"] == node_id:
            return dict(node)
    raise CliError(f"no data node {node_id!r} (dfs status lists them)")


def do_decommission(args: argparse.Namespace, target: Target) -> int:
    with client(target) as nn:
        _state_of(nn, args.node)
        answer = nn.decommission(args.node)
        if args.wait:
            node = _state_of(nn, args.node)
            total = (node.get("decommission") or {}).get("blocks") or node.get("blocks", 0)
            with Progress(total, "blocks", "draining", on_terminal()) as progress:
                done = 0
                while (node := _state_of(nn, args.node))["state"] == "decommissioning":
                    drain = node.get("decommission") or {}
                    now = max(0, int(drain.get("blocks", total)) - int(drain.get("pending", total)))
                    progress.update(max(0, now - done))
                    done = max(done, now)
                    time.sleep(POLL)
            answer = node
    _emit(args, answer, f"{args.node}: {answer.get('state') or answer.get('admin')}")
    return 0


def do_recommission(args: argparse.Namespace, target: Target) -> int:
    with client(target) as nn:
        _state_of(nn, args.node)
        answer = nn.recommission(args.node)
    _emit(args, answer, f"{args.node}: in service")
    return 0


def do_maintenance(args: argparse.Namespace, target: Target) -> int:
    with client(target) as nn:
        _state_of(nn, args.node)
        answer = nn.maintenance(args.node, args.minutes)
    until = answer.get("maintenance_until")
    _emit(args, answer, f"{args.node}: in maintenance until "
                        f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(until)) if until else '?'}")
    return 0


def do_balancer(args: argparse.Namespace, target: Target) -> int:
    with client(target) as nn:
        if args.action == "status":
            state = nn.balancer()
        elif args.action == "stop":
            state = nn.balancer("stop")
        else:
            state = nn.balancer("start", threshold=args.threshold, rate=args.rate)
            if not args.no_wait:
                with Progress(None, "B", "balancing", on_terminal()) as progress:
                    moved = 0
                    while (state := nn.balancer())["running"]:
                        progress.update(state["moved_bytes"] - moved)
                        moved = state["moved_bytes"]
                        time.sleep(POLL)
    _emit(args, state, f"balancer {state['state']}: {state['moved_blocks']} blocks, {state['moved_bytes']} "
                       f"bytes moved; spread {state['spread']} points (threshold {state['threshold']}) "
                       f"{state['message']}".rstrip())
    return 0


def do_safemode(args: argparse.Namespace, target: Target) -> int:
    with client(target) as nn:
        if args.action == "wait":
            while (state := nn.safemode())["on"]:
                time.sleep(POLL)
        else:
            state = nn.safemode(args.action)
    _emit(args, state, f"Safe mode is {'ON' if state['on'] else 'OFF'}")
    return 0


def do_mount(args: argparse.Namespace, target: Target) -> int:
    from dfs_fuse.cli import main as mount_main
    token = ["--token", target.token] if target.token and "--token" not in args.options else []
    return mount_main([args.mount_point, target.url, *token, *args.options])


def register(sub: Any) -> None:
    def command(name: str, handler: Any, help_text: str) -> argparse.ArgumentParser:
        parser = sub.add_parser(name, help=help_text, description=help_text)
        parser.set_defaults(handler=handler)
        return parser

    command("status", do_status, "the cluster: data nodes, safe mode, healing, the balancer")
    p = command("fsck", do_fsck, "files with missing, under-replicated, mis-placed or corrupt blocks")
    p.add_argument("path", nargs="?", default="/")
    p = command("decommission", do_decommission, "drain a data node (an id dfs status shows)")
    p.add_argument("-w", "--wait", action="store_true", help="wait until it is decommissioned")
    p.add_argument("node", metavar="NODE_ID")
    p = command("recommission", do_recommission, "put a data node back in service")
    p.add_argument("node", metavar="NODE_ID")
    p = command("maintenance", do_maintenance, "a planned outage: not healed around for a while")
    p.add_argument("--minutes", type=float, default=None, help="how long (default DFS_MAINTENANCE_MINUTES)")
    p.add_argument("node", metavar="NODE_ID")
    p = command("balancer", do_balancer, "move replicas until every node's use is within a threshold")
    p.add_argument("action", nargs="?", choices=("start", "stop", "status"), default="start")
    p.add_argument("-t", "--threshold", type=float, default=None, help="percentage points (default 10)")
    p.add_argument("--rate", type=int, default=None, help="bytes per second at most")
    p.add_argument("--no-wait", action="store_true", help="start it and return")
    p = command("safemode", do_safemode, "show, enter, leave or wait for the end of safe mode")
    p.add_argument("action", nargs="?", choices=("get", "enter", "leave", "wait"), default="get")
    p = command("mount", do_mount, "mount the cluster (the same as dfs.py MOUNT_POINT URL)")
    p.add_argument("mount_point")
    p.add_argument("options", nargs=argparse.REMAINDER, help="dfs.py's options (-o …, --foreground, …)")
