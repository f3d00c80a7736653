"""Moving one block between this process and the data nodes: the write through a pipeline (with
retries around failed nodes) and the verified read (with failover between replicas), of a whole
block or of the chunks covering a small range (``read_range``: each chunk checked against its digest,
the digest list against the block's checksum, see ``dfs_common.blocks``).

A read tries the replicas closest and least busy first, shuffling equals (``replica_order``), so
a corrupt second or third copy is met, reported and replaced by ordinary reads too.

These are the only places file bytes cross the network on the client side. Both are stateless
functions of an ``HttpNameNode``, so any number of threads may run them at once.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from dfs_common import bundles
from dfs_common.blocks import (CHECKSUM_HEADER, COMMIT_HEADER, DIGEST_SIZE, DIGESTS_HEADER, MAX_COMMIT_HEADER,
                               PIPELINE_HEADER, SYNC_HEADER, checksum, chunk_count, chunk_span, digests_checksum,
                               encode_commit, parse_digests, verify_span)
from dfs_common.errors import (AccessDenied, ChecksumMismatch, DFSError, IllegalArgument, NoSpace, NotFound,
                               PipelineFailed, Unavailable, from_remote_exception)
from dfs_common.hosts import is_local, url_host

from .transport import NodeUnreachable

if TYPE_CHECKING:
    from .cache import BlockCache
    from .namenode import HttpNameNode

log = logging.getLogger("dfs.client.blocks")

# Five pipelines: enough to route around two dead nodes and a flaky network, few enough that a
# cluster that cannot take the block fails the write in seconds rather than minutes.
WRITE_ATTEMPTS = 5


# How long a node a write failed on is left out of new pipelines: longer than the name node takes to
# declare a dead node dead (a few heartbeats), short enough that a restarted node is used again soon.
SUSPECT_SECONDS = 30.0


class Suspects:
    """Data nodes that recently failed a block write or read of this client: left out of later
    pipelines and tried last for reads, so that a dead or hung node costs one failed attempt,
    not one per block."""

    def __init__(self, ttl: float = SUSPECT_SECONDS) -> None:
        self.ttl = ttl
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def add(self, node_id: str) -> None:
        with self._lock:
            self._until[node_id] = time.monotonic() + self.ttl

    def current(self) -> set[str]:
        now = time.monotonic()
        with self._lock:
            for node_id in [n for n, until in self._until.items() if until <= now]:
                del self._until[node_id]
            return set(self._until)


class ReadLoad:
    """Block reads this client has in flight, per data node: the least busy replica is read first."""

    def __init__(self) -> None:
        self._reads: dict[str, int] = {}
        self._lock = threading.Lock()

    @contextmanager
    def reading(self, node_id: str) -> Iterator[None]:
        with self._lock:
            self._reads[node_id] = self._reads.get(node_id, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._reads[node_id] - 1
                if left:
                    self._reads[node_id] = left
                else:
                    del self._reads[node_id]

    def current(self) -> dict[str, int]:
        with self._lock:
            return dict(self._reads)


def replica_order(nodes: list[dict[str, Any]], suspects: set[str], load: dict[str, int],
                  site: str = "") -> list[dict[str, Any]]:
    """The order to try a block's replicas in, as HDFS reads: closest first (a replica on this
    machine, then one in the reader's ``site``), then the least busy; equals shuffled, so that
    every copy is read (and verified) by ordinary reads, not only the one the name node lists
    first. Suspects go last."""
    def key(node: dict[str, Any]) -> tuple[bool, bool, bool, int, float]:
        node_id = str(node.get("id"))
        return (node_id in suspects, not is_local(url_host(str(node.get("url", "")))),
                bool(site) and node.get("site") != site, load.get(node_id, 0), random.random())
    return sorted(nodes, key=key)


def block_url(node: dict[str, Any], block_id: str, access: str | None = None, suffix: str = "") -> str:
    """A block's URL on ``node``; ``access`` is the signed query the name node handed out with
    the block (``dfs.exp=…&dfs.sig=…``), without which a secure data node refuses it."""
    url = str(node["url"]).rstrip("/") + "/blocks/" + block_id + suffix
    return f"{url}?{access}" if access else url


def write_block(nn: HttpNameNode, path: str, data: bytes | bytearray | memoryview,
                replication: int | None = None, exclude: Iterable[str] = (),
                sync: bool = False, first: dict[str, Any] | None = None,
                commit: dict[str, Any] | None = None) -> dict[str, Any]:
    """Store ``data`` as one new block of ``path``'s pending write and answer its location.

    ``commit``: the options of the COMMIT that makes this block the whole file, sent with it
    (``COMMIT_HEADER``, with the block's ``commitGrant``) for the pipeline's head to have made when
    it confirms the block; the answer then has the COMMIT's ``commit`` (its answer) or
    ``commitError`` (a RemoteException), or neither when it could not go along (a long path).

    Each attempt asks the name node for a FRESH id and pipeline (ids are never reused, so a
    half-written replica of a failed attempt can never be confused with the real one). A node that
    cannot be reached, or that a pipeline reports as failed, is excluded from later pipelines; this
    is what lets a write survive ``kill -9`` of a data node in the middle of it.
    """
    digest = checksum(data)
    length = len(data)
    failed: set[str] = set(exclude)
    excluded = failed | nn.suspects.current()
    last_error: DFSError | None = None
    if first is not None and any(str(node["id"]) in excluded for node in first.get("pipeline") or []):
        first = None  # handed out before a node of it became suspect: ask for another
    for attempt in range(WRITE_ATTEMPTS):
        try:
            if first is not None:  # handed out with the create: no ADDBLOCK for the first attempt
                block, first = first, None
            else:
                block = nn.add_block(path, replication=replication, exclude=excluded, length=length)
        except NoSpace:
            if excluded == failed:
                raise
            excluded = set(failed)  # the suspects were all we had left: give them another chance
            block = nn.add_block(path, replication=replication, exclude=excluded, length=length)
        block_id, pipeline = block["blockId"], list(block.get("pipeline") or [])
        if not pipeline:
            raise NoSpace(f"No data node for a block of {path}")
        headers = {CHECKSUM_HEADER: digest,
                   PIPELINE_HEADER: ",".join(str(node["url"]).rstrip("/") for node in pipeline[1:]),
                   "Content-Type": "application/octet-stream"}
        if sync:
            headers[SYNC_HEADER] = "1"
        sent = commit is not None and _attach_commit(nn, headers, path, commit, block)
        try:
            # Every node of the pipeline is watched: one the name node declares dead cuts the
            # transfer at once (a hung node would otherwise hold it for the read timeout).
            with nn.liveness.watch(str(node["id"]) for node in pipeline) as cut:
                answer = nn.transport.put_block(block_url(pipeline[0], block_id, block.get("access")), data,
                                                headers, cut=cut)
        except DFSError as error:
            culprit = _blame(error, pipeline)
            last_error = error
        else:
            answer = answer if isinstance(answer, dict) else {}
            stored = set(answer.get("stored") or [node["id"] for node in pipeline])
            nodes = [{"id": node["id"], "url": node["url"]} for node in pipeline if node["id"] in stored]
            written = {"blockId": block_id, "length": length, "checksum": digest, "dataNodes": nodes}
            if block.get("readAccess"):
                written["access"] = block["readAccess"]
            if sent:
                written.update({key: answer[key] for key in ("commit", "commitError") if key in answer})
            return written
        _abandon(nn, block_id)
        if culprit is not None:
            failed.add(culprit["id"])
            excluded.add(culprit["id"])
            nn.suspects.add(culprit["id"])
        log.warning("block write for %s failed (attempt %d/%d): %s; excluding %s", path,
                    attempt + 1, WRITE_ATTEMPTS, last_error, sorted(excluded))
    assert last_error is not None
    raise last_error


def _blame(error: DFSError, pipeline: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The node of ``pipeline`` a failed block write is laid to, left out of the next pipeline
    (None: the same nodes may do next time); raises ``error`` itself when no retry can help."""
    if isinstance(error, PipelineFailed):
        return _node_with_url(pipeline, error.extra.get("failed")) or pipeline[-1]
    if isinstance(error, (ChecksumMismatch, AccessDenied)):
        return None  # corrupted in transit, or its signed URL expired (a block handed out long ago)
    if isinstance(error, NodeUnreachable):
        dead = error.extra.get("dead")
        return next((node for node in pipeline if str(node["id"]) == dead), pipeline[0])
    if isinstance(error, (Unavailable, NoSpace)):
        return pipeline[0]
    if isinstance(error, (IllegalArgument, NotFound)) or error.status < 500:
        raise error  # a block too large, a bad request: trying again cannot help
    return pipeline[0]


def _attach_commit(nn: HttpNameNode, headers: dict[str, str], path: str, options: dict[str, Any],
                   block: dict[str, Any]) -> bool:
    """Add the ``COMMIT_HEADER`` for ``block`` to ``headers``; False when it cannot go along: a
    secured name node handed out no ``commitGrant`` for it, or the header would be too long."""
    commit = _commit_for(nn, path, options, block)
    header = encode_commit(commit) if commit is not None else ""
    if not header or len(header) > MAX_COMMIT_HEADER:
        return False
    headers[COMMIT_HEADER] = header
    return True


def _commit_for(nn: HttpNameNode, path: str, options: dict[str, Any], block: dict[str, Any]) -> dict[str, Any] | None:
    """The COMMIT making ``block`` the whole of ``path`` that its pipeline's head may make when it
    confirms the block; None without the ``commitGrant`` a secured name node hands out with it."""
    grant = block.get("commitGrant")
    if grant is None and nn.token:
        return None
    return {"path": path, "body": commit_body([], options), "grant": grant, "user": nn.user}


@dataclass(slots=True)
class SmallFile:
    """A whole file of one block, to be written and committed (``write_bundle``)."""

    path: str
    data: bytes
    options: dict[str, Any]  # its COMMIT's
    block: dict[str, Any] | None = None  # handed out already: a create's ``addBlock``


def write_bundle(nn: HttpNameNode, files: list[SmallFile],
                 executor: Executor | None = None) -> list[dict[str, Any] | DFSError]:
    """Write and commit many small files in few requests: those whose blocks share a pipeline go
    in one ``PUT /bundle`` (``dfs_common.bundles``), the head committing each as it confirms the
    lot; a file without a block, or whose bundle failed, is written alone (``write_block``, which
    routes around failed nodes), the requests running on ``executor`` (default: the client's).
    Answers, per file, its new FileStatus or what refused it."""
    pool = executor or nn.executor
    results: list[dict[str, Any] | DFSError | None] = [None] * len(files)
    suspects = nn.suspects.current()
    groups: dict[tuple[str, ...], list[int]] = {}
    alone: list[int] = []
    for index, file in enumerate(files):
        pipeline = (file.block or {}).get("pipeline") or []
        if pipeline and not suspects.intersection(str(node["id"]) for node in pipeline):
            groups.setdefault(tuple(str(node["id"]) for node in pipeline), []).append(index)
        else:
            alone.append(index)
    chunks = [chunk for group in groups.values() for chunk in _chunks(group, files)]
    bundled = [pool.submit(_put_bundle, nn, [files[i] for i in chunk]) for chunk in chunks]
    for chunk, future in zip(chunks, bundled):
        outcomes = future.result()
        for index, outcome in zip(chunk, outcomes):
            if outcome is None:
                alone.append(index)
            else:
                results[index] = outcome
    singles = {index: pool.submit(_write_alone, nn, files[index]) for index in alone}
    for index, single in singles.items():
        try:
            results[index] = single.result()
        except DFSError as error:
            results[index] = error
    assert all(result is not None for result in results)
    return cast("list[dict[str, Any] | DFSError]", results)


def _keep(nn: HttpNameNode, block_id: str, data: bytes) -> None:
    """A block just written, kept in the client's cache: its writer tends to read it next."""
    if nn.block_cache is not None:
        nn.block_cache.put({"blockId": block_id, "checksum": checksum(data), "length": len(data)}, data)


def _chunks(indices: list[int], files: list[SmallFile]) -> Iterator[list[int]]:
    """``indices`` cut into bundles within ``bundles.MAX_BLOCKS`` and ``bundles.MAX_BYTES``."""
    chunk: list[int] = []
    size = 0
    for index in indices:
        length = len(files[index].data)
        if chunk and (len(chunk) >= bundles.MAX_BLOCKS or size + length > bundles.MAX_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(index)
        size += length
    if chunk:
        yield chunk


def _put_bundle(nn: HttpNameNode, files: list[SmallFile]) -> list[dict[str, Any] | DFSError | None]:
    """One bundle to the head of the pipeline its files' blocks share: per file, its FileStatus,
    the COMMIT's refusal, or None (to be written alone: the bundle or its block failed)."""
    pipeline = list((files[0].block or {})["pipeline"])
    items = []
    for file in files:
        assert file.block is not None
        entry: dict[str, Any] = {"blockId": file.block["blockId"]}
        if file.block.get("access"):
            entry["access"] = file.block["access"]
        commit = _commit_for(nn, file.path, file.options, file.block)
        if commit is not None:
            entry["commit"] = commit
        items.append((entry, file.data))
    body = bundles.encode(items)
    headers = {PIPELINE_HEADER: ",".join(str(node["url"]).rstrip("/") for node in pipeline[1:]),
               "Content-Type": "application/octet-stream"}
    try:
        with nn.liveness.watch(str(node["id"]) for node in pipeline) as cut:
            answer = nn.transport.put_block(str(pipeline[0]["url"]).rstrip("/") + "/bundle", body, headers,
                                            cut=cut)
        blocks = answer.get("blocks") if isinstance(answer, dict) else None
        if not isinstance(blocks, list) or len(blocks) != len(files):
            raise Unavailable(f"{pipeline[0]['url']}: a bundle's answer without its {len(files)} blocks")
    except DFSError as error:
        try:
            culprit = _blame(error, pipeline)
        except DFSError:
            culprit = None
        if culprit is not None:
            nn.suspects.add(str(culprit["id"]))
        log.warning("a bundle of %d files failed (%s); writing them one by one", len(files), error)
        _abandon_all(nn, [str(file.block["blockId"]) for file in files if file.block])
        return [None] * len(files)
    outcomes: list[dict[str, Any] | DFSError | None] = []
    for file, block in zip(files, blocks):
        if not isinstance(block, dict) or "error" in block:
            outcomes.append(None)
        elif "commit" in block:
            _keep(nn, block["blockId"], file.data)
            outcomes.append(block["commit"]["FileStatus"])
        elif "commitError" in block:
            outcomes.append(from_remote_exception(400, block["commitError"]))
        else:  # stored, but its COMMIT could not go along: made now
            written = {"blockId": block.get("blockId"), "length": len(file.data), "checksum": block.get("checksum")}
            try:
                outcomes.append(dict(nn.commit(file.path, [written], **file.options)))
            except DFSError as error:
                outcomes.append(error)
    return outcomes


def _write_alone(nn: HttpNameNode, file: SmallFile) -> dict[str, Any]:
    """One small file the ordinary way: its block (with the COMMIT riding along), else a COMMIT."""
    written = write_block(nn, file.path, file.data, first=file.block, commit=file.options)
    _keep(nn, written["blockId"], file.data)
    if "commitError" in written:
        raise from_remote_exception(400, written["commitError"])
    if "commit" in written:
        return written["commit"]["FileStatus"]
    return dict(nn.commit(file.path, [written], **file.options))


def read_block(nn: HttpNameNode, location: dict[str, Any], path: str = "/") -> bytes:
    """The bytes of one block, checked against its checksum, from the first replica that serves
    them intact. A replica answering wrong bytes (or not having the block) is reported to the name
    node, which verifies it and re-replicates from a good copy."""
    block_id = location.get("blockId")
    length = int(location.get("length", 0))
    if block_id is None:
        return bytes(length)
    if location.get("fragments"):  # an erasure-coded group: any k of its fragments
        from .striping import read_group
        return read_group(nn, location, path)
    # A file may use only a prefix of a block (the name node's TRUNCATE keeps one): the checksum
    # covers the whole stored block, ``blockLength`` long, of which the file reads ``length``.
    stored_length = int(location.get("blockLength", length))
    expected = location.get("checksum")

    def attempt(node: dict[str, Any]) -> bytes | None:
        data, served_checksum = _fetch(nn, block_url(node, block_id, location.get("access")), stored_length)
        wanted = expected or served_checksum
        if len(data) == stored_length and (wanted is None or checksum(data) == wanted):
            return data if stored_length == length else data[:length]
        return None

    return _first_intact(nn, location, path, attempt)


def read_range(nn: HttpNameNode, location: dict[str, Any], offset: int, length: int,
               path: str = "/", cache: BlockCache | None = None) -> bytes:
    """``length`` bytes at ``offset`` of one block (fewer past the file's end of it), fetching only
    the chunks that cover them: the read a small random ``pread`` wants, where a whole block would
    move and hash 64 times the bytes. Verified as ``read_block`` (failover, bad replicas reported):
    the replica's digest list must add up to the block's checksum and each chunk match its digest.
    With a ``cache``, answers from a cached whole block or cached chunks, and caches what it fetched.
    """
    block_id = location.get("blockId")
    used = int(location.get("length", 0))
    length = max(0, min(length, used - offset))
    if block_id is None or length == 0:
        return bytes(length)
    if cache is not None:
        whole = cache.get(location)
        if whole is not None:
            return bytes(whole[offset:offset + length])
    if location.get("fragments"):  # a coded group is decoded whole (and cached whole)
        whole = read_block(nn, location, path)
        if cache is not None:
            cache.put(block_id, whole)
        return bytes(whole[offset:offset + length])
    stored_length = int(location.get("blockLength", used))
    start, stop = chunk_span(offset, length, stored_length)
    span = cache.get_span(location, start, stop) if cache is not None else None
    if span is None:
        span = _read_span(nn, location, start, stop, path)
        if cache is not None:
            cache.put_span(location, start, span)
    if offset == start and len(span) == length:
        return span
    return span[offset - start:offset - start + length]


def _read_span(nn: HttpNameNode, location: dict[str, Any], start: int, stop: int, path: str) -> bytes:
    """The verified bytes ``[start, stop)`` (chunk-aligned) of a block, from the first good replica."""
    block_id = location["blockId"]
    stored_length = int(location.get("blockLength", location.get("length", 0)))
    expected = location.get("checksum")

    def attempt(node: dict[str, Any]) -> bytes | None:
        url = block_url(node, block_id, location.get("access"))
        data, served_checksum, digests = _fetch_span(nn, url, start, stop, stored_length)
        wanted = expected or served_checksum
        if len(data) == stored_length and digests is None:  # a node that ignored Range
            return data[start:stop] if wanted is None or checksum(data) == wanted else None
        if len(data) != stop - start:
            return None
        if digests is None:  # a block too large to carry its digest list in a header
            digests = _fetch_digests(nn, block_url(node, block_id, location.get("access"), "/digests"),
                                     stored_length)
        if wanted is not None and digests_checksum(digests) != wanted:
            return None
        return data if verify_span(data, start, digests) else None

    return _first_intact(nn, location, path, attempt)


def _first_intact(nn: HttpNameNode, location: dict[str, Any], path: str,
                  attempt: Callable[[dict[str, Any]], bytes | None]) -> bytes:
    """Try ``attempt`` on each replica in turn (``replica_order``): its bytes if verified, None if
    they were not (that replica is reported as bad, as is one that does not have the block)."""
    block_id = location.get("blockId")
    failures: list[str] = []
    corrupt = False
    for node in replica_order(list(location.get("dataNodes") or []), nn.suspects.current(), nn.reads.current(),
                              nn.site):
        try:
            with nn.reads.reading(str(node.get("id"))):
                data = attempt(node)
        except NotFound as error:
            failures.append(f"{node.get('id')}: {error}")
            _report(nn, str(block_id), node, path)
            continue
        except NodeUnreachable as error:  # dead or hung: try it last for a while
            failures.append(f"{node.get('id')}: {error}")
            nn.suspects.add(str(node.get("id")))
            continue
        except DFSError as error:
            failures.append(f"{node.get('id')}: {error}")
            continue
        if data is not None:
            return data
        corrupt = True
        failures.append(f"{node.get('id')}: checksum mismatch")
        _report(nn, str(block_id), node, path)
    detail = "; ".join(failures) or "no replica known"
    if corrupt:
        raise ChecksumMismatch(f"Block {block_id} of {path}: no intact replica ({detail})")
    raise Unavailable(f"Block {block_id} of {path}: no replica could be read ({detail})")


def _fetch(nn: HttpNameNode, url: str, length: int) -> tuple[bytes, str | None]:
    """GET a whole block in one read straight off the socket (one copy, no chunk joining)."""
    with nn.transport.get(url) as response:
        return _body(response, url, length), response.headers.get(CHECKSUM_HEADER)


def _fetch_span(nn: HttpNameNode, url: str, start: int, stop: int,
                stored_length: int) -> tuple[bytes, str | None, bytes | None]:
    """GET ``[start, stop)`` of a block: the bytes, the served checksum and the digest list
    (None if the answer carried none). A node that ignores Range answers the whole block."""
    with nn.transport.get(url, {"Range": f"bytes={start}-{stop - 1}"}, expect=(200, 206)) as response:
        whole = response.status == 200
        data = _body(response, url, stored_length if whole else stop - start)
        served = response.headers.get(CHECKSUM_HEADER)
        header = response.headers.get(DIGESTS_HEADER)
    try:
        digests = None if whole or header is None else parse_digests(header.strip(), stored_length)
    except IllegalArgument:
        digests = b""  # garbled in transit or on disk: adds up to no checksum, so judged corrupt
    return data, served, digests


def _fetch_digests(nn: HttpNameNode, url: str, stored_length: int) -> bytes:
    with nn.transport.get(url) as response:
        digests = _body(response, url, chunk_count(stored_length) * DIGEST_SIZE)
    try:
        return parse_digests(digests.hex(), stored_length)
    except IllegalArgument:
        return b""


def _body(response: Any, url: str, length: int) -> bytes:
    """Exactly ``length`` bytes of a streamed answer (fewer if it ends early; longer is an error)."""
    try:
        data = response.read(length, decode_content=False) if length else b""
        if response.read(1, decode_content=False):
            raise Unavailable(f"{url}: longer than the {length} bytes expected")
        return data
    except DFSError:
        raise
    except Exception as error:  # a broken read, in urllib3's or the socket's own classes
        raise NodeUnreachable(f"GET {url}: {type(error).__name__}: {error}") from None


def _abandon(nn: HttpNameNode, block_id: str) -> None:
    _abandon_all(nn, [block_id])


def _abandon_all(nn: HttpNameNode, block_ids: list[str]) -> None:
    """Give up a failed attempt's blocks at once: the name node releases their space and tells the
    nodes they were sent to delete any copy they kept (best effort: they expire within the hour)."""
    try:
        nn.abandon_blocks(block_ids)
    except DFSError as error:
        log.warning("could not abandon failed blocks %s: %s", block_ids, error)


def _report(nn: HttpNameNode, block_id: str, node: dict[str, Any], path: str) -> None:
    """Best effort: a failed report must not fail the read that has other replicas to try."""
    try:
        nn.report_bad_block(block_id, str(node.get("id")), path=path)
    except DFSError as error:
        log.warning("could not report bad block %s on %s: %s", block_id, node.get("id"), error)


def _node_with_url(pipeline: list[dict[str, Any]], url: Any) -> dict[str, Any] | None:
    if not isinstance(url, str):
        return None
    wanted = url.rstrip("/")
    for node in pipeline:
        if str(node["url"]).rstrip("/") == wanted:
            return node
    return None


# COMMIT options accepted in Python spelling and sent in the protocol's.
_COMMIT_NAMES = {"file_id": "fileId", "block_size": "blockSize", "mtime_ns": "mtimeNs"}


def commit_body(blocks: list[dict[str, Any]], options: dict[str, Any]) -> dict[str, Any]:
    """A COMMIT's JSON body: these blocks, and the options under their wire names."""
    body: dict[str, Any] = {"blocks": [commit_entry(block) for block in blocks]}
    for name, value in options.items():
        name = _COMMIT_NAMES.get(name, name)
        if name == "permission" and isinstance(value, int):
            value = f"{value & 0o7777:o}"
        body[name] = value
    return body


def commit_entry(block: dict[str, Any]) -> dict[str, Any]:
    if block.get("blockId") is None:
        return {"blockId": None, "length": int(block["length"])}
    entry = {"blockId": block["blockId"], "length": int(block["length"]), "checksum": block["checksum"]}
    if block.get("crc32c"):  # an erasure-coded group's, of its logical bytes (``striping``)
        entry["crc32c"] = block["crc32c"]
    return entry
