"""Forwarding a block to the next data node of a write pipeline.

Cut-through for writes (``Relay``): each chunk a node receives goes to its own temp file and, through
a bounded queue, into the request body to the next node at the same time, so all nodes of a pipeline
receive, verify and fsync in parallel instead of one after another. Every node still verifies the
checksum over the bytes it received before its copy becomes visible; the bytes it forwards are the
bytes it hashed, with the same expected checksum, so a corrupt upstream hop fails the same way
downstream and nothing is kept anywhere. An upstream that fails mid-body cuts the downstream
connection short, which downstream sees as a truncated body (nothing kept). A relayed PUT carries
``X-DFS-Confirm: upstream``: the node that received the block first confirms every stored copy to
the name node in one call, once they all answered.

Store-then-forward for healing (``Forwarder.forward``): a local block is streamed from the root;
the first target is the head of that pipeline and confirms the copies.
The failure that reaches the client names the deepest node that failed (from a downstream 502),
so the client can exclude exactly that node.
"""
from __future__ import annotations

import logging
import queue
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from dfs_client.liveness import Liveness
from dfs_client.transport import CONNECT_TIMEOUT, READ_TIMEOUT, Transport
from dfs_common import bundles
from dfs_common.blocks import CHECKSUM_HEADER, CONFIRM_HEADER, PIPELINE_HEADER, SYNC_HEADER
from dfs_common.errors import DFSError, IllegalArgument, PipelineFailed
from dfs_common.settings import Settings

from .access import Access
from .roots import CHUNK, StorageRoot
from .roots.base import Readable

log = logging.getLogger("dfs.data_node.pipeline")

# 4 chunks (4 MiB) between receiving and forwarding: enough to ride out jitter on either side,
# small enough that 32 concurrent writes hold at most 128 MiB in flight.
RELAY_DEPTH = 4

# 32 nodes in all (the replication cap of the settings and of ADDBLOCK): at most 31 after the node
# that receives the header. A longer header is garbage, or an attempt to tie up worker threads.
MAX_PIPELINE = 31

# Host names that reach this node whatever it advertises: an entry naming one at our own port is us.
_LOCAL_HOSTS = frozenset(("localhost", "localhost.localdomain", "ip6-localhost", "127.0.0.1", "::1",
                          "0.0.0.0", "::"))


def node_address(url: str) -> tuple[str, int]:
    """(lower-case host, port) of a data node URL: a bare http(s) origin, else IllegalArgument
    (a malformed one, e.g. an unclosed IPv6 bracket, is a 400, never a 500)."""
    try:
        parsed = urlsplit(url)
        port = parsed.port
    except ValueError:
        raise IllegalArgument(f"Invalid {PIPELINE_HEADER} entry {url[:80]!r}") from None
    if parsed.scheme not in ("http", "https") or not parsed.hostname or "@" in parsed.netloc \
            or parsed.path not in ("", "/") or parsed.query or parsed.fragment or not url.isprintable():
        raise IllegalArgument(f"Invalid {PIPELINE_HEADER} entry {url[:80]!r}")
    return parsed.hostname.lower(), port or (443 if parsed.scheme == "https" else 80)


class PipelineRules:
    """What a pipeline header may name, as this node sees it: distinct nodes, never this node
    itself (under any of its names), at most ``MAX_PIPELINE`` of them, each a valid URL. The
    name node places distinct nodes, so anything else is a forged or garbled header; a header
    that looped back here would hold one worker thread per hop."""

    def __init__(self, settings: Settings) -> None:
        names = _LOCAL_HOSTS | {name.lower() for name in (settings.host, settings.advertise_host,
                                                          socket.gethostname()) if name}
        self._own = {(name, settings.port) for name in names}
        for url in (settings.node_url, settings.client_url):
            try:
                self._own.add(node_address(url))
            except IllegalArgument:
                pass

    def parse(self, header: str | None) -> list[str]:
        """The downstream URLs of an ``X-DFS-Pipeline`` header (empty or absent: none)."""
        if not header:
            return []
        urls = [part.strip().rstrip("/") for part in header.split(",") if part.strip()]
        if len(urls) > MAX_PIPELINE:
            raise IllegalArgument(f"{PIPELINE_HEADER} lists more than {MAX_PIPELINE} nodes")
        seen: set[tuple[str, int]] = set()
        for url in urls:
            address = node_address(url)
            if address in self._own:
                raise IllegalArgument(f"{PIPELINE_HEADER} names this node itself: {url[:80]!r}")
            if address in seen:
                raise IllegalArgument(f"{PIPELINE_HEADER} names {url[:80]!r} twice")
            seen.add(address)
        return urls


class _Body:
    """A block as a request body: a known length (so no chunked encoding) read in 1 MiB chunks."""

    def __init__(self, file: BinaryIO, length: int) -> None:
        self.file = file
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[bytes]:
        left = self.length
        while left > 0:
            chunk = self.file.read(min(CHUNK, left))
            if not chunk:
                raise IOError("block file shorter than its recorded length")
            left -= len(chunk)
            yield chunk


class Forwarder:
    """PUTs blocks from a root to the next node of a pipeline. A forward to a node the name node
    declares dead (a heartbeat answer says so, see ``Liveness``) is cut at once."""

    # (connect, read) seconds, the read timeout per send or receive: the backstop when the name
    # node cannot tell (a hung node is cut within a heartbeat of being declared dead), a little
    # shorter than the client's so that a node hung downstream fails this hop, not the writer's.
    TIMEOUT = (CONNECT_TIMEOUT, READ_TIMEOUT - 5.0)

    def __init__(self, transport: Transport, liveness: Liveness, access: Access) -> None:
        self.transport = transport
        self.liveness = liveness
        self.access = access
        self._executor: ThreadPoolExecutor | None = None  # bundles sent on downstream
        self._pool_lock = threading.Lock()

    def put(self, target: str, block_id: str, body: Any, headers: dict[str, str],
            length: int | None) -> list[str]:
        """One block PUT to ``target``: the node ids stored from there on, or PipelineFailed.
        Every node-to-node PUT leaves through here, signed for its block and pipeline."""
        return self._put(self.block_url(target, block_id, "write", headers.get(PIPELINE_HEADER, "")),
                         target, body, headers, length)

    def _put(self, url: str, target: str, body: Any, headers: dict[str, str], length: int | None) -> list[str]:
        try:
            with self.liveness.watch([target]) as cut:
                answer = self.transport.put_block(url, body, headers, length, cut=cut, timeout=self.TIMEOUT)
        except DFSError as error:
            raise _failed(target, error) from None
        stored = answer.get("stored") if isinstance(answer, dict) else None
        if not isinstance(stored, list):
            raise PipelineFailed(f"Pipeline node {target} answered without a stored list", failed=target)
        return [str(node) for node in stored]

    def block_url(self, target: str, block_id: str, op: str, pipeline: str = "") -> str:
        """``target``'s URL of ``block_id``, signed for ``op`` (and a write's ``pipeline``)."""
        query = self.access.block_query(block_id, op, pipeline)
        return f"{str(target).rstrip('/')}/blocks/{block_id}" + (f"?{query}" if query else "")

    def forward(self, root: StorageRoot, block_id: str, pipeline: list[str]) -> list[str]:
        """Send the stored block to ``pipeline[0]`` with the rest as its pipeline; returns the
        node ids that then hold it downstream, or raises PipelineFailed naming the failed URL."""
        if not pipeline:
            return []
        info = root.info(block_id)
        if info is None:
            raise IllegalArgument(f"Block {block_id} is not stored here")
        target = pipeline[0]
        # A copy made to restore redundancy is fsynced on every target: nobody else will ask.
        headers = {CHECKSUM_HEADER: info.checksum, PIPELINE_HEADER: ",".join(pipeline[1:]),
                   SYNC_HEADER: "1", "Content-Type": "application/octet-stream"}
        file, length = root.open(block_id)
        try:
            return self.put(target, block_id, _Body(file, length), headers, length)
        finally:
            file.close()

    def send_bundle(self, items: list[tuple[dict[str, Any], memoryview]], pipeline: list[str],
                    sync: bool) -> Future[list[str]]:
        """Start sending a bundle (``dfs_common.bundles``) on to ``pipeline[0]``, its blocks'
        access signed afresh for the rest of the pipeline: answers the node ids that then hold
        it downstream (or raises PipelineFailed, as ``put``)."""
        target, rest = pipeline[0], ",".join(pipeline[1:])
        entries = [({key: value for key, value in entry.items() if key in ("blockId", "checksum")}
                    | ({"access": query} if (query := self.access.block_query(entry["blockId"], "write", rest)) else {}),
                    data) for entry, data in items]
        body = bundles.encode(entries)
        headers = {PIPELINE_HEADER: rest, CONFIRM_HEADER: "upstream", "Content-Type": "application/octet-stream"}
        if sync:
            headers[SYNC_HEADER] = "1"
        url = f"{str(target).rstrip('/')}/bundle"
        return self._pool().submit(self._put, url, target, body, headers, len(body))

    def _pool(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix="bundle")
            return self._executor

    def relay(self, block_id: str, checksum: str, pipeline: list[str],
              length: int | None, sync: bool = False) -> Relay:
        """Start forwarding a block still being received: feed it through ``Relay.tee``;
        ``sync`` asks every node downstream to fsync it too."""
        return Relay(self, block_id, checksum, pipeline, length, sync)


class _Aborted(OSError):
    """Raised inside the downstream request body so the connection is dropped mid-body."""


_END = object()
_ABORT = object()


class Relay:
    """One cut-through forward: a thread PUTs to ``pipeline[0]`` a body fed by the receiving
    thread, chunk by chunk, through a bounded queue. ``finish`` answers what ``forward`` does."""

    def __init__(self, forwarder: Forwarder, block_id: str, checksum: str, pipeline: list[str],
                 length: int | None, sync: bool = False) -> None:
        self.target = pipeline[0]
        self._block_id = block_id
        self._headers = {CHECKSUM_HEADER: checksum, PIPELINE_HEADER: ",".join(pipeline[1:]),
                         CONFIRM_HEADER: "upstream", "Content-Type": "application/octet-stream"}
        if sync:
            self._headers[SYNC_HEADER] = "1"
        self._length = length
        self._forwarder = forwarder
        self._queue: queue.Queue[object] = queue.Queue(maxsize=RELAY_DEPTH)
        self._done = threading.Event()  # the downstream request is over, well or not
        self._ended = False
        self._stored: list[str] | None = None
        self._error: PipelineFailed | None = None
        self._thread = threading.Thread(target=self._run, name=f"relay-{block_id}", daemon=True)
        self._thread.start()

    def tee(self, source: Readable) -> Readable:
        """``source``, with every chunk read from it also queued for the downstream node."""
        return _TeeReader(source, self)

    def push(self, chunk: bytes) -> None:
        """Queue a chunk (``b""``: the end). Once downstream is over, chunks are dropped: the
        local copy is still received whole so the upstream gets a proper answer."""
        if self._ended:
            return
        if not chunk:
            self._ended = True
            self._put(_END)
        else:
            self._put(bytes(chunk))

    def finish(self) -> list[str]:
        """Wait for the downstream answer: its stored node ids, or PipelineFailed."""
        if not self._ended:  # the source was not read to its end: never send a short body
            self.abort()
            raise PipelineFailed(f"Block body for {self.target} ended early", failed=self.target)
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._stored is not None
        return self._stored

    def abort(self) -> None:
        """The local receive failed: cut the downstream body short (so nothing is kept there)
        and wait for the thread. A body already sent whole fails downstream on its own (the
        same bytes against the same checksum)."""
        if not self._ended:
            self._ended = True
            while True:  # make room: what was queued must not reach downstream anyway
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break
            self._put(_ABORT)
        self._thread.join()
        if self._stored is not None:
            log.warning("block %s was stored downstream by %s although the local receive failed; "
                        "it stays pending until the name node expires it", self._block_id, self._stored)

    def _put(self, item: object) -> None:
        while not self._done.is_set():
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def _body(self) -> Iterator[bytes]:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if item is _ABORT:
                raise _Aborted("upstream receive failed")
            yield item  # type: ignore[misc]

    def _run(self) -> None:
        try:
            self._stored = self._forwarder.put(self.target, self._block_id, self._body(),
                                               self._headers, self._length)
        except PipelineFailed as error:
            self._error = error
        except BaseException as error:  # never let the receiving thread wait on a dead relay
            self._error = PipelineFailed(f"Relay to {self.target} failed: {error!r}",
                                         failed=self.target)
        finally:
            self._done.set()


class _TeeReader:
    """What ``StorageRoot.store`` reads: the request body, each chunk also handed to a relay."""

    def __init__(self, source: Readable, relay: Relay) -> None:
        self._source = source
        self._relay = relay

    def read(self, size: int = -1, /) -> bytes:
        if size == 0:
            return b""
        chunk = self._source.read(size)
        self._relay.push(chunk)
        return chunk


def _failed(target: str, error: DFSError) -> PipelineFailed:
    """The failure of a forward to ``target``, naming the deepest node that failed (a downstream
    502 names its own culprit), so the writer excludes exactly that node."""
    deeper = error.extra.get("failed")
    if isinstance(error, PipelineFailed) and isinstance(deeper, str) and deeper:
        return PipelineFailed(error.message, failed=deeper)
    return PipelineFailed(f"Pipeline node {target} failed: {error.message}", failed=target)
