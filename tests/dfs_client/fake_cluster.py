"""A small in-process fake of a DFS cluster, just enough of docs/PROTOCOL.md to exercise the client's
file logic before the real nodes exist: a name node (GETFILESTATUS, LISTSTATUS_BATCH, MKDIRS, DELETE,
RENAME, GETFILEBLOCKLOCATIONS, ADDBLOCK, COMMIT, REPORTBADBLOCK, RENEWBLOCKS, ABANDONBLOCKS, SETTIMES, /ping_alive) and data
nodes (``/blocks/<id>`` PUT with pipelines, GET with a single Range and the chunk digests), each a werkzeug app on its own loopback port.

Faults a test can switch on: a data node that serves corrupt bytes (``corrupt = True``, the first
byte of the block or of a ranged answer flipped; ``corrupt_digests = True``: a wrong digest list), one that is
down (``stop()``: connections refused), one whose disk refuses writes (``refuse_writes = True``).
"""
from __future__ import annotations

import itertools
import json
import threading
import time
from typing import Any

import requests
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from dfs_common.blocks import (CHECKSUM_HEADER, DIGESTS_HEADER, PIPELINE_HEADER, checksum, chunk_digests,
                               format_block_id)
from dfs_common.errors import (AlreadyExists, ChecksumMismatch, Conflict, IllegalArgument, IsADirectory, NoSpace,
                               NotEmpty, NotFound, PipelineFailed, Unavailable)
from dfs_common.paths import normalize, split_path
from dfs_common.web import Params, answer, json_response


class Server:
    """A werkzeug app served on an ephemeral loopback port in a thread."""

    def __init__(self, app: Any) -> None:
        self._server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class FakeDataNode:
    def __init__(self, name: str, cluster: FakeCluster) -> None:
        self.id, self.cluster = name, cluster
        self.blocks: dict[str, bytes] = {}
        self.corrupt = False
        self.corrupt_digests = False
        self.refuse_writes = False
        self.gets = 0
        self.bytes_served = 0
        self.routes = Map([Rule("/blocks/<block_id>", endpoint="block")])
        self.server = Server(self)
        self.url = self.server.url

    def stop(self) -> None:
        self.server.stop()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        return answer(self._dispatch, request)(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        _, args = self.routes.bind_to_environ(request.environ).match()
        block_id = args["block_id"]
        if request.method == "GET":
            self.gets += 1
            data = self.blocks.get(block_id)
            if data is None:
                raise NotFound(f"No block {block_id}")
            headers = {CHECKSUM_HEADER: checksum(data)}
            status = 200
            span = request.range.range_for_length(len(data)) if request.range else None
            if span is not None:
                digests = chunk_digests(data)
                if self.corrupt_digests:
                    digests = bytes([digests[0] ^ 1]) + digests[1:]
                headers[DIGESTS_HEADER] = digests.hex()
                headers["Content-Range"] = f"bytes {span[0]}-{span[1] - 1}/{len(data)}"
                data, status = data[span[0]:span[1]], 206
            served = (bytes([data[0] ^ 0xFF]) + data[1:]) if self.corrupt and data else data
            self.bytes_served += len(served)
            return Response(served, status=status, headers=headers, mimetype="application/octet-stream")
        if self.refuse_writes:
            raise Unavailable("disk refuses writes")
        data = request.get_data()
        digest = request.headers[CHECKSUM_HEADER]
        if checksum(data) != digest:
            raise ChecksumMismatch("checksum mismatch")
        downstream = [u for u in request.headers.get(PIPELINE_HEADER, "").split(",") if u]
        stored = [self.id]
        if downstream:
            try:
                reply = requests.put(downstream[0] + "/blocks/" + block_id, data=data, timeout=(2, 10),
                                     headers={CHECKSUM_HEADER: digest, PIPELINE_HEADER: ",".join(downstream[1:])})
            except requests.RequestException:
                raise PipelineFailed("downstream unreachable", failed=downstream[0]) from None
            if reply.status_code == 502:
                body = reply.json()["RemoteException"]
                raise PipelineFailed("downstream failed", failed=body["failed"])
            if reply.status_code != 201:
                raise PipelineFailed("downstream failed", failed=downstream[0])
            stored += reply.json()["stored"]
        self.blocks[block_id] = data
        self.cluster.block_received(self.id, block_id, len(data), digest)
        return json_response({"blockId": block_id, "length": len(data), "checksum": digest,
                              "stored": stored}, status=201)


class FakeNameNode:
    """The namespace as a dict of path → entry; blocks as a map id → (length, checksum, nodes)."""

    def __init__(self, cluster: FakeCluster, block_size: int) -> None:
        self.cluster, self.block_size = cluster, block_size
        self.ids = itertools.count(2)
        self.block_ids = itertools.count(1)
        self.entries: dict[str, dict[str, Any]] = {"/": self._entry("DIRECTORY")}
        self.entries["/"]["fileId"] = 1
        self.pending: dict[str, dict[str, Any]] = {}
        self.blocks: dict[str, dict[str, Any]] = {}
        self.bad_reports: list[tuple[str, str]] = []
        self.renewed: list[str] = []
        self.abandoned: list[str] = []
        self.commits = 0
        self.lock = threading.RLock()
        self.server = Server(self)
        self.url = self.server.url

    def _entry(self, kind: str, **extra: Any) -> dict[str, Any]:
        now = time.time_ns()
        return {"type": kind, "fileId": next(self.ids), "blocks": [], "mtimeNs": now,
                "permission": "755" if kind == "DIRECTORY" else "644", "blockSize": self.block_size,
                "replication": 2, **extra}

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        return answer(self._dispatch, request)(environ, start_response)

    def _dispatch(self, request: Request) -> Response:
        if request.path == "/ping_alive":
            return json_response({"alive": True})
        if not request.path.startswith("/webhdfs/v1"):
            raise NotFound(request.path)
        params = Params(request.args)
        path = normalize(request.path[len("/webhdfs/v1"):] or "/")
        op = params.required("op").upper()
        handler = getattr(self, "op_" + op.lower(), None)
        if handler is None:
            raise IllegalArgument(f'Invalid value for webhdfs parameter "op": {op}')
        with self.lock:
            return handler(path, params, request)

    def _get(self, path: str) -> dict[str, Any]:
        if path not in self.entries:
            raise NotFound(f"File does not exist: {path}")
        return self.entries[path]

    def _status(self, path: str, entry: dict[str, Any], suffix: str = "") -> dict[str, Any]:
        length = sum(b["length"] for b in entry["blocks"])
        ms = entry["mtimeNs"] // 1_000_000
        return {"pathSuffix": suffix, "type": entry["type"], "length": length, "fileId": entry["fileId"],
                "blockSize": entry["blockSize"], "replication": entry["replication"],
                "permission": entry["permission"], "owner": "me", "group": "us", "accessTime": ms,
                "modificationTime": ms, "modificationTimeNs": entry["mtimeNs"], "childrenNum": 0}

    def _children(self, path: str) -> list[str]:
        prefix = path.rstrip("/") + "/"
        return sorted(p[len(prefix):] for p in self.entries if p.startswith(prefix) and "/" not in p[len(prefix):])

    def op_getfilestatus(self, path: str, params: Params, request: Request) -> Response:
        return json_response({"FileStatus": self._status(path, self._get(path))})

    def op_liststatus_batch(self, path: str, params: Params, request: Request) -> Response:
        self._get(path)
        names = [n for n in self._children(path) if n > (params.text("startAfter") or "")]
        page = names[:2]  # tiny pages, so paging is exercised
        statuses = [self._status(path + "/" + n, self.entries[path.rstrip("/") + "/" + n], n) for n in page]
        return json_response({"DirectoryListing": {"partialListing": {"FileStatuses": {"FileStatus": statuses}},
                                                   "remainingEntries": len(names) - len(page)}})

    def op_mkdirs(self, path: str, params: Params, request: Request) -> Response:
        segments = split_path(path)
        for i in range(1, len(segments) + 1):
            sub = "/" + "/".join(segments[:i])
            if sub not in self.entries:
                self.entries[sub] = self._entry("DIRECTORY")
        return json_response({"boolean": True})

    def op_delete(self, path: str, params: Params, request: Request) -> Response:
        if path not in self.entries:
            return json_response({"boolean": False})
        if self._children(path) and not params.boolean("recursive"):
            raise NotEmpty(path)
        for p in [p for p in self.entries if p == path or p.startswith(path + "/")]:
            del self.entries[p]
        return json_response({"boolean": True})

    def op_rename(self, path: str, params: Params, request: Request) -> Response:
        dst = normalize(params.required("destination"))
        if path not in self.entries or dst in self.entries:
            return json_response({"boolean": False})
        for p in [p for p in self.entries if p == path or p.startswith(path + "/")]:
            self.entries[dst + p[len(path):]] = self.entries.pop(p)
        return json_response({"boolean": True})

    def op_settimes(self, path: str, params: Params, request: Request) -> Response:
        mtime = params.integer("modificationtimens", -1)
        if mtime is not None and mtime >= 0:
            self._get(path)["mtimeNs"] = mtime
        return Response(b"")

    def op_getfileblocklocations(self, path: str, params: Params, request: Request) -> Response:
        entry = self._get(path)
        if entry["type"] != "FILE":
            raise IsADirectory(path)
        locations, offset = [], 0
        for block in entry["blocks"]:
            nodes = [] if block["blockId"] is None else [
                {"id": n, "url": self.cluster.nodes[n].url} for n in self.blocks[block["blockId"]]["nodes"]]
            locations.append({**block, "offset": offset, "dataNodes": nodes, "corrupt": False,
                              "hosts": [], "names": []})
            offset += block["length"]
        # the file's own fields beside BlockLocations, as the real name node answers them
        return json_response({"BlockLocations": {"BlockLocation": locations}, "fileLength": offset,
                              "fileId": entry["fileId"], "blockSize": entry["blockSize"],
                              "replication": entry["replication"]})

    def op_addblock(self, path: str, params: Params, request: Request) -> Response:
        entry = self.entries.get(path) or self._get("/" + "/".join(split_path(path)[:-1]))  # a file to be
        replication = params.integer("replication") or entry["replication"]  # created at its commit
        excluded = set((params.text("exclude") or "").split(","))
        live = [n for n in self.cluster.nodes.values() if n.id not in excluded][:replication]
        if not live:
            raise NoSpace("no live data node left")
        block_id = format_block_id(next(self.block_ids))
        self.pending[block_id] = {"nodes": []}
        return json_response({"Block": {"blockId": block_id,
                                        "pipeline": [{"id": n.id, "url": n.url} for n in live]}})

    def block_received(self, node: str, block_id: str, length: int, digest: str) -> None:
        with self.lock:
            record = self.pending.get(block_id) or self.blocks.get(block_id)
            if record is not None:
                record.update(length=length, checksum=digest)
                record["nodes"].append(node)

    def op_commit(self, path: str, params: Params, request: Request) -> Response:
        body = request.get_json()
        check = body.get("check") is True  # every check of this COMMIT, nothing written
        self.commits += 0 if check else 1
        entry = self.entries.get(path)
        if entry is None:
            parent = "/" + "/".join(split_path(path)[:-1])
            if not body.get("create") or parent not in self.entries:
                raise NotFound(f"File does not exist: {path}")
            if check:
                size = body.get("blockSize") or self.block_size
                return json_response({"FileStatus": None, "blockSize": size,
                                      "replication": body.get("replication") or 2})
            entry = self.entries[path] = self._entry("FILE")
            if body.get("blockSize"):
                entry["blockSize"] = body["blockSize"]
        elif entry["type"] != "FILE":
            raise IsADirectory(path)
        elif body.get("fileId") is not None and body["fileId"] != entry["fileId"]:
            raise Conflict(f"{path} was replaced")
        elif body.get("fileId") is None and not body.get("overwrite"):
            raise AlreadyExists(f"{path} already exists")
        if check:
            status = self._status(path, entry)
            return json_response({"FileStatus": status, "blockSize": status["blockSize"],
                                  "replication": status["replication"]})
        own = {b["blockId"] for b in entry["blocks"]}
        for block in body["blocks"]:
            block_id = block["blockId"]
            if block_id is None or block_id in own:
                continue
            record = self.pending.get(block_id)
            if not record or not record["nodes"] or record["length"] != block["length"] \
                    or record["checksum"] != block["checksum"]:
                raise IllegalArgument(f"block {block_id} not confirmed")
            self.blocks[block_id] = self.pending.pop(block_id)
        entry["blocks"] = [{"blockId": b["blockId"], "length": b["length"], "checksum": b.get("checksum")}
                           for b in body["blocks"]]
        entry["mtimeNs"] = time.time_ns()
        return json_response({"FileStatus": self._status(path, entry)})

    def op_reportbadblock(self, path: str, params: Params, request: Request) -> Response:
        self.bad_reports.append((params.required("blockid"), params.required("datanode")))
        return Response(b"")

    def op_renewblocks(self, path: str, params: Params, request: Request) -> Response:
        ids = json.loads(request.get_data() or b"{}").get("blocks") or []
        self.renewed.extend(ids)
        return json_response({"renewed": len(ids)})

    def op_abandonblocks(self, path: str, params: Params, request: Request) -> Response:
        ids = json.loads(request.get_data() or b"{}").get("blocks") or []
        self.abandoned.extend(ids)
        return json_response({"abandoned": len(ids)})


class FakeCluster:
    def __init__(self, data_nodes: int = 3, block_size: int = 1024 * 1024) -> None:
        self.nodes: dict[str, FakeDataNode] = {}
        self.namenode = FakeNameNode(self, block_size)
        for i in range(data_nodes):
            node = FakeDataNode(f"dn{i}", self)
            self.nodes[node.id] = node
        self.url = self.namenode.url

    def block_received(self, node: str, block_id: str, length: int, digest: str) -> None:
        self.namenode.block_received(node, block_id, length, digest)

    def stop(self) -> None:
        for node in self.nodes.values():
            try:
                node.stop()
            except OSError:
                pass
        self.namenode.server.stop()

