"""Step 2 of WebHDFS CREATE / APPEND / OPEN / GETFILECHECKSUM (and POSTRECORD), the data node's side.

The name node redirects these here; this node then acts as an ordinary client (``dfs_client``) on
the caller's behalf, so the bytes take the same verified, pipelined path as any client's and the
file only becomes visible at the commit (invariant 4). Reads prefer this node's own replicas.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlparse

from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from dfs_common import crc
from dfs_common.errors import DFSError, IllegalArgument, PastEndOfFile
from dfs_common.paths import normalize
from dfs_common.settings import Settings
from dfs_common.web import Params, json_response

from .reading import FileBlocks
from .roots import CHUNK, StorageRoot
from .scrubber import Scrubber

if TYPE_CHECKING:
    from dfs_client import HttpNameNode

log = logging.getLogger("dfs.data_node.webhdfs")

DEFAULT_USER = "dr.who"
# Clients kept per user: enough for a busy gateway, small enough to never matter in memory.
MAX_CLIENTS = 64

_METHODS = {"CREATE": "PUT", "APPEND": "POST", "OPEN": "GET", "GETFILECHECKSUM": "GET", "POSTRECORD": "POST"}


class WebHdfs:
    """Serves ``/webhdfs/v1/<path>?op=…`` for the four redirected operations."""

    def __init__(self, settings: Settings, root: StorageRoot, scrubber: Scrubber) -> None:
        self.settings = settings
        self.root = root
        self.scrubber = scrubber
        self._clients: dict[tuple[str, str | None], HttpNameNode] = {}
        self._lock = threading.Lock()

    def handle(self, request: Request, raw_path: str) -> Response:
        params = Params(request.args)
        op = (params.text("op") or "").upper()
        if op not in _METHODS:
            raise IllegalArgument(f'Invalid value for webhdfs parameter "op": {op or None!r}')
        if request.method != _METHODS[op] and not (op == "OPEN" and request.method == "HEAD"):
            raise IllegalArgument(f"Operation {op} needs HTTP {_METHODS[op]}, not {request.method}")
        path = normalize("/" + raw_path)
        client = self.client(params.user("user.name") or DEFAULT_USER, params.text("delegation") or None)
        return getattr(self, f"on_{op.lower()}")(request, params, client, path)

    def client(self, user: str, token: str | None = None) -> HttpNameNode:
        """A ``dfs_client.HttpNameNode`` acting as ``user`` (with ``DFS_SECRET``: as whoever the
        ``delegation`` grant the name node put in its redirect names). Kept for reuse: its
        sessions pool connections to the name node and the peers."""
        from dfs_client import HttpNameNode, Transport  # imported late: the client package is a peer's

        key = (user, token)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                if len(self._clients) >= MAX_CLIENTS:
                    self._clients.pop(next(iter(self._clients)))
                client = self._clients[key] = HttpNameNode(
                    self.settings.namenode_url, user=user, token=token,
                    transport=Transport(ca_bundle=self.settings.tls_ca or None), site=self.settings.site)
            return client

    # -- operations -------------------------------------------------------------------------

    def on_create(self, request: Request, params: Params, client: HttpNameNode, path: str) -> Response:
        options: dict[str, Any] = {
            "permission": params.permission("permission", 0o644),
            "replication": params.integer("replication", None, minimum=1),
            "block_size": params.integer("blocksize", None, minimum=1),
            "overwrite": params.boolean("overwrite", False),
        }
        for name in ("owner", "group"):
            if params.text(name):
                options[name] = params.text(name)
        parent = path.rsplit("/", 1)[0]
        if parent:  # WebHDFS CREATE makes missing parents, as `mkdir -p` would
            client.mkdirs(parent)
        self._copy_body(request, client.open(path, "wb", **options))
        location = f"webhdfs://{self._namenode_address(params)}{quote(path)}"
        return Response(b"", status=201, headers={"Location": location, "Content-Length": "0"})

    def on_append(self, request: Request, params: Params, client: HttpNameNode, path: str) -> Response:
        self._copy_body(request, client.open(path, "ab"))
        return Response(b"", status=200, headers={"Content-Length": "0"})

    def on_postrecord(self, request: Request, params: Params, client: HttpNameNode, path: str) -> Response:
        """Step 2 of POSTRECORD: the body becomes one record of the buffer ``path`` (its blocks
        first, then the COMMITRECORD that names and counts it); answers the Record."""
        writer = client.record_writer(path, params.text("suffix") or "", params.permission("permission", 0o644),
                                      params.integer("replication", None, minimum=1))
        self._copy_body(request, writer)
        return json_response({"Record": writer.record}, status=201)

    def on_open(self, request: Request, params: Params, client: HttpNameNode, path: str) -> Response:
        offset = params.integer("offset", 0, minimum=0) or 0
        length = params.integer("length", None, minimum=0)
        blocks = FileBlocks(client, path, self.root, self.scrubber)
        if offset > blocks.length:  # the file shrank since the name node checked
            raise PastEndOfFile(f"Cannot seek after EOF: offset {offset} of a {blocks.length}-byte file")
        start = offset
        stop = blocks.length if length is None else min(blocks.length, start + length)
        headers = {"Content-Length": str(stop - start)}
        if request.method == "HEAD" or stop == start:
            response = Response(b"", status=200, mimetype="application/octet-stream")
            response.headers.update(headers)  # after the body: werkzeug sets 0 for b""
            return response
        return Response(_logged(blocks.stream(start, stop), path), status=200, headers=headers,
                        mimetype="application/octet-stream", direct_passthrough=True)

    def on_getfilechecksum(self, request: Request, params: Params, client: HttpNameNode, path: str) -> Response:
        """Hadoop's MD5MD5CRC form, or with ``checksum.combine.mode=COMPOSITE_CRC`` the
        COMPOSITE-CRC32C one, from the CRC32Cs kept with the blocks (``FileBlocks``)."""
        mode = crc.combine_mode(params.text(crc.COMBINE_MODE_PARAM))
        blocks = FileBlocks(client, path, self.root, self.scrubber)
        return json_response(blocks.composite_checksum() if mode == crc.COMPOSITE_CRC else blocks.checksum())

    # -- helpers ----------------------------------------------------------------------------

    def _copy_body(self, request: Request, writer: Any) -> None:
        """Stream the request body (Content-Length, chunked or empty) into ``writer`` and commit,
        only if the whole body arrived: gunicorn hands over its raw stream (``wsgi.input_terminated``),
        which just ends early when a client drops a Content-Length upload, so the bytes are counted
        here; its chunked reader raises on a body cut before the last chunk. A body that broke off
        is never committed: the writer is aborted, and the old file (or none) stays."""
        expected, received = request.content_length, 0
        try:
            stream = request.stream
            while True:
                try:
                    chunk = stream.read(CHUNK)
                except (DFSError, HTTPException):
                    raise
                except Exception as error:  # gunicorn's NoMoreData, ChunkMissingTerminator, resets
                    raise IllegalArgument(f"The request body broke off after {received} bytes: "
                                          f"{type(error).__name__}") from error
                if not chunk:
                    break
                received += len(chunk)
                writer.write(chunk)
            if expected is not None and received != expected:
                raise IllegalArgument(f"The request body ended after {received} of its "
                                      f"{expected} bytes (Content-Length)")
        except BaseException as error:
            log.warning("upload to %s not committed: %s", getattr(writer, "path", "?"), error)
            abort = getattr(writer, "abort", None)
            if callable(abort):
                abort()
            raise
        writer.close()

    def _namenode_address(self, params: Params) -> str:
        """``host:port`` of the name node for the ``webhdfs://`` Location: the one the name node
        named in ``namenoderpcaddress`` (what the client knows it by), else our own setting."""
        given = params.text("namenoderpcaddress") or ""
        netloc = urlparse(given if "://" in given else f"//{given}").netloc if given else ""
        return netloc or urlparse(self.settings.namenode_url).netloc


def _logged(chunks: Iterator[bytes], path: str) -> Iterator[bytes]:
    """Headers are gone once streaming starts: a failure can only cut the body short (the client
    sees fewer bytes than Content-Length), so it is at least logged here."""
    try:
        yield from chunks
    except GeneratorExit:
        raise
    except Exception as error:  # noqa: BLE001 - nothing else can report it
        log.warning("OPEN %s broke off while streaming: %s", path, error)
        raise
