"""The name node's web page: server-rendered HTML over the same state the JSON API answers.

``GET /`` is the cluster's health (every data node by its id with state, site, root kind,
capacity and use; safe mode; healing, balancer and decommission progress; under-replicated,
missing and corrupt counts); ``/ui/browse?path=`` a directory, ``/ui/file?path=`` a file's
details and block locations with a download link (WebHDFS OPEN: a 307 to a data node),
``/ui/node?id=`` one data node. No build step and no script: plain HTML a browser, ``curl`` or a
screen reader reads the same, refreshed by the browser every few seconds on the overview.
Browsing obeys permissions as the caller of ``user.name`` (default: WebHDFS's anonymous user).
"""
from __future__ import annotations

import html
import re
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from werkzeug.wrappers import Request, Response

from dfs_common.blocks import format_block_id
from dfs_common.errors import DFSError, NotFound
from dfs_common.paths import normalize
from dfs_common.web import Params

from . import namespace
from .filestatus import file_status
from .permissions import READ, check
from .store import DIR, FILE, node_prefix

if TYPE_CHECKING:
    from .app import NameNode

LIST_LIMIT = 1000  # entries shown per directory page (the rest: "more" link)
STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.5em}
table{border-collapse:collapse}td,th{padding:.25em .7em;border-bottom:1px solid #ddd;text-align:left}
th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}
.alive{color:#17702a}.dead{color:#b00020}.decommissioning,.maintenance{color:#a15c00}.decommissioned{color:#666}
.banner{padding:.5em 1em;background:#fff3cd;border:1px solid #e0c060;display:inline-block}
nav a{margin-right:1em}dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}dt{font-weight:600}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def human(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return str(size)


def _when(ms_or_s: float, ms: bool = True) -> str:
    seconds = ms_or_s / 1000 if ms else ms_or_s
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds)) if seconds else "-"


def browse_link(path: str) -> str:
    return "/ui/browse?" + urlencode({"path": path})


def page(title: str, body: str, refresh: int | None = None, status: int = 200) -> Response:
    meta = f'<meta http-equiv="refresh" content="{refresh}">' if refresh else ""
    text = (f'<!doctype html><html lang="en"><head><meta charset="utf-8">{meta}<title>{_e(title)}</title>'
            f'<style>{STYLE}</style></head><body><nav><a href="/" id="nav-overview">Overview</a>'
            f'<a href="{browse_link("/")}" id="nav-browse">Browse</a><a href="/metrics">Metrics</a></nav>'
            f"<h1>{_e(title)}</h1>{body}</body></html>")
    return Response(text, status=status, mimetype="text/html")


_LINK = re.compile(r'href="(/[^"]*)"')


def carry_token(response: Response, token: str | None) -> Response:
    """Add ``delegation=TOKEN`` to every link of a page (its downloads and its own pages)."""
    if not token or response.mimetype != "text/html":
        return response
    extra = _e(urlencode({"delegation": token}))

    def link(match: re.Match[str]) -> str:
        target = match.group(1)
        return f'href="{target}{"&amp;" if "?" in target else "?"}{extra}"'
    response.set_data(_LINK.sub(link, response.get_data(as_text=True)))
    return response


def _table(table_id: str, headers: list[str], rows: list[str]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


class WebPages:
    def __init__(self, node: "NameNode") -> None:
        self.node = node

    def _page_errors(self, render: Any, request: Request) -> Response:
        """A browser (asking for text/html) gets its error as a page; any other client the
        RemoteException every DFS endpoint answers. On a secured cluster a browser opens the
        page with ``?delegation=TOKEN`` (WebHDFS's parameter); every link of it carries it on."""
        try:
            return carry_token(render(request), Params(request.args).raw("delegation"))
        except DFSError as error:
            if "text/html" not in [kind for kind, _ in request.accept_mimetypes]:
                raise
            title = "Not found" if isinstance(error, NotFound) else "Error"
            return page(title, f'<p id="error">{_e(error.message)}</p>', status=error.status)

    # overview -----------------------------------------------------------------------------
    def on_ui_overview(self, request: Request) -> Response:
        return self._page_errors(self._overview, request)

    def _overview(self, request: Request) -> Response:
        node = self.node
        with node.store.read() as txn:
            files, dirs, blocks = txn.counter("files"), txn.counter("dirs"), txn.entries("blocks")
        safemode, balancer, healer = node.safemode.status(), node.balancer.status(), node.healer
        parts = []
        if safemode["on"]:
            how = "entered by an operator" if safemode["manual"] else (
                f"waiting for block reports: {safemode['blocks_reported']} of {safemode['blocks_needed']} blocks")
            parts.append(f'<p class="banner" id="safemode">Safe mode is ON ({_e(how)})</p>')
        else:
            parts.append('<p id="safemode">Safe mode is off</p>')
        parts.append(
            '<dl id="summary">'
            f"<dt>Files</dt><dd>{files}</dd><dt>Directories</dt><dd>{dirs}</dd><dt>Blocks</dt><dd>{blocks}</dd>"
            f'<dt>Under-replicated</dt><dd id="under-replicated">{healer.under_replicated}</dd>'
            f'<dt>Missing</dt><dd id="missing">{healer.missing}</dd>'
            f'<dt>Corrupt</dt><dd id="corrupt">{len(healer.corrupt_blocks())}</dd>'
            f'<dt>Healing</dt><dd id="healing">{healer.replications} copies asked for '
            f"({human(healer.replicated_bytes)})</dd>"
            f'<dt>Balancer</dt><dd id="balancer">{_e(balancer["state"])}: {balancer["moved_blocks"]} blocks, '
            f'{human(balancer["moved_bytes"])} moved; use spread {balancer["spread"]} points '
            f'(threshold {balancer["threshold"]}){" – " + _e(balancer["message"]) if balancer["message"] else ""}</dd>'
            "</dl>")
        rows = []
        for entry in sorted(node.members.status(), key=lambda e: e["id"]):
            capacity = entry["capacity"]
            use = 100.0 * entry["used"] / capacity if capacity else 0.0
            drain = entry.get("decommission")
            progress = (f'{drain.get("blocks", 0) - drain.get("pending", 0)} of {drain.get("blocks", 0)} blocks'
                        if drain else "")
            rows.append(
                f'<tr data-node-id="{_e(entry["id"])}"><td><a href="/ui/node?{urlencode({"id": entry["id"]})}">'
                f'{_e(entry["id"])}</a></td><td class="state {_e(entry["state"])}">{_e(entry["state"])}</td>'
                f'<td>{_e(entry.get("site") or "-")}</td><td class="root">{_e(entry.get("root") or "-")}</td>'
                f'<td class="n">{human(capacity)}</td><td class="n">{human(entry["used"])}</td>'
                f'<td class="n">{use:.1f}%</td><td class="n">{entry["blocks"]}</td>'
                f'<td>{_e(progress)}</td><td>{_e(entry.get("public_url") or entry["url"])}</td></tr>')
        parts.append("<h2>Data nodes</h2>" + _table(
            "datanodes", ["id", "state", "site", "root", "capacity", "used", "use", "blocks", "drain", "url"], rows))
        return page(f"DFS name node {node.settings.node_url}", "".join(parts), refresh=10)

    # one data node ------------------------------------------------------------------------
    def on_ui_node(self, request: Request) -> Response:
        return self._page_errors(self._node_page, request)

    def _node_page(self, request: Request) -> Response:
        node_id = Params(request.args).required("id")
        entry = next((e for e in self.node.members.status() if e["id"] == node_id), None)
        if entry is None:
            raise NotFound(f"No data node {node_id[:128]!r}")
        with self.node.store.read() as txn:
            held = [key for _, key in zip(range(LIST_LIMIT), txn.scan("replicas", node_prefix(node_id)))]
        fields = [("State", entry["state"]), ("Alive", "yes" if entry["alive"] else "no"),
                  ("Site", entry.get("site") or "-"), ("Root", entry.get("root") or "-"),
                  ("URL", entry["url"]), ("Public URL", entry.get("public_url") or "-"),
                  ("Capacity", human(entry["capacity"])), ("Used", human(entry["used"])),
                  ("Remaining", human(entry["remaining"])), ("Blocks", entry["blocks"]),
                  ("Last heartbeat", _when(entry["last_seen"], ms=False))]
        if entry.get("decommission"):
            drain = entry["decommission"]
            fields.append(("Decommission", f'{drain.get("pending", 0)} of {drain.get("blocks", 0)} blocks to go'))
        if entry.get("maintenance_until"):
            fields.append(("Maintenance until", _when(entry["maintenance_until"], ms=False)))
        details = "".join(f"<dt>{_e(k)}</dt><dd id=\"node-{_e(k.lower().replace(' ', '-'))}\">{_e(v)}</dd>"
                          for k, v in fields)
        return page(f"Data node {node_id}", f'<dl id="node">{details}</dl>'
                    f"<p>{len(held)}{'+' if len(held) >= LIST_LIMIT else ''} replicas in the block map</p>")

    # the tree -----------------------------------------------------------------------------
    def on_ui_browse(self, request: Request) -> Response:
        return self._page_errors(self._browse, request)

    def _browse(self, request: Request) -> Response:
        params = Params(request.args)
        path = normalize(params.text("path") or "/")
        start_after = params.text("after") or ""
        caller = self.node.caller_of(request)
        rows: list[str] = []
        last: str | None = None
        with self.node.store.read() as txn:
            ino, inode = namespace.resolve_existing(txn, path, caller, follow=True)
            if inode.kind != DIR:
                return self._file(request)
            check(caller, inode, READ, path)
            for name, child in txn.children(ino, start_after):
                if len(rows) >= LIST_LIMIT:
                    last = name
                    break
                child_inode = txn.inode(child)
                if child_inode is None:
                    continue
                status = file_status(name, child, child_inode)
                full = path.rstrip("/") + "/" + name
                target = browse_link(full) if child_inode.kind == DIR else "/ui/file?" + urlencode({"path": full})
                size = "" if child_inode.kind == DIR else human(status["length"])
                rows.append(
                    f'<tr data-name="{_e(name)}" data-type="{_e(status["type"])}"><td><a href="{_e(target)}">'
                    f'{_e(name)}{"/" if child_inode.kind == DIR else ""}</a></td><td>{_e(status["type"].lower())}</td>'
                    f'<td class="n">{size}</td><td class="n">{status["replication"] or ""}</td>'
                    f'<td>{_e(status["owner"])}</td><td>{_e(status["group"])}</td><td>{_e(status["permission"])}</td>'
                    f'<td>{_when(status["modificationTime"])}</td></tr>')
        crumbs, so_far = ['<a href="/ui/browse?path=%2F">/</a>'], ""
        for segment in [s for s in path.split("/") if s]:
            so_far += "/" + segment
            crumbs.append(f'<a href="{_e(browse_link(so_far))}">{_e(segment)}</a>')
        more = (f'<p><a id="more" href="{_e(browse_link(path))}&amp;{urlencode({"after": last})}">more…</a></p>'
                if last else "")
        body = (f'<p id="breadcrumbs">{" / ".join(crumbs)}</p>'
                + _table("listing", ["name", "type", "size", "replication", "owner", "group", "mode", "modified"],
                         rows) + more)
        return page(f"Browse {path}", body)

    def on_ui_file(self, request: Request) -> Response:
        return self._page_errors(self._file, request)

    def _file(self, request: Request) -> Response:
        path = normalize(Params(request.args).text("path") or "/")
        caller = self.node.caller_of(request)
        members = {m.id: m for m in self.node.members.all()}
        live = self.node.members.live_ids()
        rows = []
        with self.node.store.read() as txn:
            ino, inode = namespace.resolve_existing(txn, path, caller, follow=True)
            if inode.kind == DIR:
                return self._browse(request)
            status = file_status(path.rsplit("/", 1)[-1], ino, inode)
            offset = 0
            for index, (number, length) in enumerate(txn.extents(ino) if inode.kind == FILE else []):
                record = txn.block(number) if number else None
                nodes = []
                for replica in (record.replicas if record else []):
                    member = members.get(replica)
                    state = "alive" if replica in live else "dead"
                    if member is not None and member.admin != "normal":
                        state = member.admin
                    nodes.append(f'<a class="replica {state}" data-node-id="{_e(replica)}" '
                                 f'href="/ui/node?{urlencode({"id": replica})}">{_e(replica)}</a> ({state})')
                rows.append(f'<tr data-block="{index}"><td class="n">{index}</td>'
                            f'<td>{format_block_id(number) if number else "(hole)"}</td>'
                            f'<td class="n">{offset}</td><td class="n">{length}</td>'
                            f'<td>{", ".join(nodes) or "-"}</td></tr>')
                offset += length
        download = f"/webhdfs/v1{quote(path)}?op=OPEN"
        fields = [("Path", path), ("Size", f'{status["length"]} bytes ({human(status["length"])})'),
                  ("Replication", status["replication"]), ("Block size", human(status["blockSize"])),
                  ("Owner", status["owner"]), ("Group", status["group"]), ("Mode", status["permission"]),
                  ("Modified", _when(status["modificationTime"])), ("File id", status["fileId"])]
        details = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in fields)
        parent = path.rsplit("/", 1)[0] or "/"
        body = (f'<dl id="file">{details}</dl><p><a id="download" href="{_e(download)}">Download</a> · '
                f'<a id="parent" href="{_e(browse_link(parent))}">Parent directory</a></p><h2>Blocks</h2>'
                + _table("blocks", ["#", "block id", "offset", "length", "replicas"], rows))
        return page(f"File {path}", body)
