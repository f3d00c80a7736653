"""The mount's side of directory leases: files created and removed without a round trip each.

A directory this mount makes comes with its lease (``name_node/leases.py``): until the lease ends
no other client reads or changes it, so the names in it are exactly the ones this mount knows
(``contains``), and ``create`` (with an inode number the name node reserved) and ``unlink`` are
answered at once, queued, and sent by one thread in batches of up to ``BATCH_MAX`` changes, one
name-node transaction each (``BATCH``). Whatever else this mount asks the name node waits until the queue
is sent (``barrier``, called before every request of the client), so the name node sees this
mount's changes in the order it made them, and a file written after its blind create gets the
first block its create was sent with.

A small file created blind and closed is closed behind (``store``): ``close(2)`` returns at once
and the file's bytes join the queue; the sending thread writes the files of a batch in bundles,
one request per pipeline their first blocks share, each committed by the pipeline's head as it
confirms them (``blockio.write_bundle``), so a tree of small files costs a few requests per batch,
not several per file. What another client sees is unchanged: it must recall the lease first, and
the lease goes back only after the files closed under it are stored and committed.

A lease ends when the name node recalls it (another client touched the directory: the recall
comes in a batch's answer, or in the answer to the watch, a request the name node holds until a
recall or for ``WATCH_SECONDS``, so a recall waits about a round trip however idle the mount is),
when nothing used it for ``IDLE_SECONDS`` (or ``MAX_LEASES`` newer ones are held, or they know
``MAX_ALL_NAMES`` names), or at unmount; the changes still queued are sent with the release.
"""
from __future__ import annotations

import errno
import logging
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from dfs_client.blockio import SmallFile
from dfs_common.errors import DFSError, IllegalArgument, NoSpace, from_remote_exception, to_remote_exception

log = logging.getLogger("dfs_fuse")

BATCH_MAX = 512  # changes per BATCH request
IDS = 4096  # inode numbers asked for at a time
IDS_LOW = 1024  # ask for more once fewer are left
# A lease unused (no blind change, no lookup answered from it) for this long is given back. Long:
# keeping one costs another client a recall's round trip, and memory within MAX_ALL_NAMES.
IDLE_SECONDS = 300.0
MAX_LEASES = 1024  # beyond, the least recently used is given back (a copied tree has hundreds)
MAX_NAMES = 100_000  # names known of one leased directory; beyond, files are made the ordinary way
MAX_ALL_NAMES = 200_000  # names known of all leased directories (memory); beyond, the least recently used go
WATCH_SECONDS = 2  # the watch's wait for a recall (the name node caps it at half a lease)
MARGIN_SECONDS = 1.0  # a lease is used only this long before the name node could expire it
RETRY_SECONDS = 0.2
GATHER_SECONDS = 0.02  # a change waits at most this long for others to share its batch
STOP_ATTEMPTS = 25  # sends tried at unmount before what is queued is given up
CLOSE_BEHIND_BYTES = 1 << 20  # the largest file closed behind (one small block)
STORE_THREADS = 8  # bundles (one per pipeline) and lone files written at once
PENDING_BYTES = 32 << 20  # of files closed behind, not stored yet: beyond, a close stores its own


@dataclass(slots=True)
class DirLease:
    path: str
    ino: int
    until: float  # monotonic: used for blind changes only before this
    used: float  # monotonic: the last create made under it
    names: set[str] = field(default_factory=set)
    blind: set[int] = field(default_factory=set)  # files created blind in it, one name each: may close behind
    # Its FileStatus, made when this mount made it and kept by its own changes in it, exact while
    # the lease holds (None once this mount changed its attributes: asked for again): its
    # attributes and its new files' group without a lookup.
    status: dict[str, Any] | None = None


class MountLeases:
    """This mount's leases, its queue of blind changes and the threads that send them and watch for recalls."""

    def __init__(self, client: Any, *, idle: float = IDLE_SECONDS, close_behind: bool = True) -> None:
        self.client = client
        self.idle = idle
        self.close_behind = close_behind
        self._pending_bytes = 0  # of the stores queued or on their way
        self.session = secrets.token_hex(16)
        self._cond = threading.Condition()
        self._leases: dict[str, DirLease] = {}  # by directory path
        self._making: dict[str, bool] = {}  # directories being made: whether a name was made in one meanwhile
        self._queue: list[dict[str, Any]] = []  # blind creates and unlinks not sent yet, in their order
        self._busy: dict[str, int] = {}  # directory -> its changes queued or on their way (``barrier``)
        self._sending = 0  # changes in the batch on its way
        self._queued_at = 0.0  # when the oldest change in the queue was made
        self._urgent = False  # someone waits for the queue: send without gathering
        self._release: set[int] = set()  # leases to give back with the next batch that empties the queue
        self._ids: list[int] = [0, 0]  # [next, end) reserved inode numbers
        self._refused: dict[int, OSError] = {}  # fileId -> why the name node refused its create
        self._error: OSError | None = None  # the last failed send, while the queue waits
        self._stop = False
        self.block_size, self.replication = 0, 0  # what files made blind get (the name node's defaults)
        # Called with a directory whose lease another client recalled: what this mount cached of
        # its names (exact until then) is no longer (``FileSystem`` drops its listing).
        self.on_recall: Callable[[str], None] | None = None
        # The threads that send this mount's changes: their own requests must not wait for them.
        self._local = threading.local()
        self._stores = ThreadPoolExecutor(max_workers=STORE_THREADS, thread_name_prefix="dfs-store",
                                          initializer=self._sender)
        self._thread = threading.Thread(target=self._run, name="dfs-leases", daemon=True)
        self._watcher = threading.Thread(target=self._watch, name="dfs-lease-watch", daemon=True)
        client.start_session(self.session, self.barrier)
        self._thread.start()
        self._watcher.start()

    # -- what the filesystem asks ----------------------------------------------------------

    def mkdir(self, path: str, permission: int, owner: str, group: str | None) -> None:
        """``mkdir(2)``, taking the new (empty) directory's lease if the name node grants one."""
        with self._cond:
            ids = IDS if self._ids[1] - self._ids[0] < IDS_LOW else 0
            self._making[path] = False
        sent_at = time.monotonic()
        try:
            lease = self.client.mkdir_leased(path, permission=permission, owner=owner, group=group, ids=ids)
        finally:
            with self._cond:
                touched = self._making.pop(path, True)
        if not lease:
            return
        with self._cond:
            if lease.get("ids"):
                self._ids = [int(lease["ids"][0]), int(lease["ids"][1])]
            self.block_size, self.replication = int(lease["blockSize"]), int(lease["replication"])
            if touched:  # another thread of ours made a name in it meanwhile: its names are not all "none"
                self._release.add(int(lease["fileId"]))
                self._cond.notify_all()
                return
            self._leases[path] = DirLease(path, int(lease["fileId"]), sent_at + float(lease["seconds"]) - MARGIN_SECONDS,
                                          time.monotonic(), status=lease.get("FileStatus"))
            self._cond.notify_all()  # the watch starts

    def contains(self, directory: str, name: str) -> bool | None:
        """Whether ``name`` is in ``directory``, when this mount holds its lease (else None)."""
        lease = self._leases.get(directory)
        if lease is None:
            return None
        with self._cond:
            lease.used = time.monotonic()
            return name in lease.names

    def create(self, directory: str, name: str, template: dict[str, Any], group: str | None) -> dict[str, Any] | None:
        """Make ``name`` in ``directory`` blind: answers its FileStatus (``template``: permission,
        owner and group, plus the fileId and times), or None when it must be made the ordinary
        way (no usable lease, no inode number left, the name taken). ``group``: what the create
        asks for (None: the directory's)."""
        with self._cond:
            lease = self._usable(directory)
            if lease is None or name in lease.names or self._ids[0] >= self._ids[1] or len(lease.names) >= MAX_NAMES:
                return None
            file_id = self._ids[0]
            self._ids[0] += 1
            lease.names.add(name)
            lease.blind.add(file_id)
            stamp = time.time_ns()
            self._enqueue({"op": "create", "parent": lease.ino, "name": name, "fileId": file_id,
                           "permission": template["permission"], "owner": template["owner"],
                           "group": group, "mtimeNs": stamp, "dir": directory})
            self._cond.notify_all()
        status = {**template, "fileId": file_id, "type": "FILE", "length": 0, "nlink": 1, "childrenNum": 0,
                  "blockSize": self.block_size, "replication": self.replication, "storagePolicy": 0,
                  "pathSuffix": "", "modificationTime": stamp // 1_000_000, "accessTime": stamp // 1_000_000,
                  "modificationTimeNs": stamp, "accessTimeNs": stamp, "changeTimeNs": stamp}
        return status

    def unlink(self, directory: str, name: str, file_id: int) -> bool:
        """Remove the file ``name`` (inode ``file_id``) from ``directory`` blind; False when it must
        be removed the ordinary way (no usable lease, or the name not known here)."""
        with self._cond:
            lease = self._usable(directory)
            if lease is None or name not in lease.names:
                return False
            lease.names.discard(name)
            lease.blind.discard(file_id)
            self._enqueue({"op": "delete", "parent": lease.ino, "name": name, "fileId": file_id, "dir": directory})
            self._cond.notify_all()
            return True

    def first_block(self, file_id: int) -> None:
        """File ``file_id`` (created blind) has its first bytes: its create, if not sent yet, also
        asks for the block they will go to (``barrier``'s ``first_block_of``, without the wait)."""
        with self._cond:
            self._want_block(file_id)

    def _want_block(self, file_id: int) -> None:
        for op in self._queue:
            if op["fileId"] == file_id and op["op"] == "create":
                op["addBlock"] = True

    def store(self, path: str, file_id: int, take: Callable[[], tuple[bytes, dict[str, Any]] | None]) -> bool:
        """Close behind: queue the write and commit of file ``file_id``, created blind at ``path``
        under a lease still usable, with the bytes and COMMIT options ``take`` detaches from its
        open file (None: not a small file, nothing detached). True if queued, and ``close(2)`` may
        return; False: the caller commits as usual."""
        directory = path.rsplit("/", 1)[0] or "/"
        with self._cond:
            lease = self._usable(directory)
            if not self.close_behind or lease is None or file_id not in lease.blind \
                    or self._pending_bytes >= PENDING_BYTES:
                return False
            self._pending_bytes += CLOSE_BEHIND_BYTES  # held while ``take`` runs (outside the lock)
        taken = take()
        with self._cond:
            self._pending_bytes -= CLOSE_BEHIND_BYTES
            if taken is None:
                return False
            data, options = taken
            self._pending_bytes += len(data)
            self._want_block(file_id)
            self._enqueue({"op": "store", "fileId": file_id, "path": path, "data": data, "options": options,
                           "dir": directory})
            self._cond.notify_all()
        return True

    def _enqueue(self, op: dict[str, Any]) -> None:
        """Under the lock: queue a blind change of ``op["dir"]``."""
        if not self._queue:
            self._queued_at = time.monotonic()
        self._queue.append(op)
        self._busy[op["dir"]] = self._busy.get(op["dir"], 0) + 1
        self._cond.notify_all()

    def _settled(self, ops: list[dict[str, Any]]) -> None:
        """Under the lock: these changes are on the name node (or given up)."""
        for op in ops:
            left = self._busy.pop(op["dir"], 1) - 1
            if left > 0:
                self._busy[op["dir"]] = left

    def _usable(self, directory: str) -> DirLease | None:
        """Under the lock: ``directory``'s lease if blind changes may be made under it now."""
        lease = self._leases.get(directory)
        now = time.monotonic()
        if lease is None or lease.until <= now or self._error is not None:
            return None
        lease.used = now
        return lease

    def changed(self, directory: str, added: str | None = None, removed: str | None = None,
                when_ns: int | None = None, nlink: int = 0) -> None:
        """This mount changed ``directory`` (at ``when_ns``, its link count by ``nlink``): its
        leased names and status follow."""
        lease = self._leases.get(directory)
        if directory in self._making:
            with self._cond:
                self._making[directory] = True
        if lease is not None:
            with self._cond:
                if added is not None:
                    lease.names.add(added)
                if removed is not None:
                    lease.names.discard(removed)
                if lease.status is not None and when_ns is not None:
                    lease.status = dict(lease.status, modificationTimeNs=when_ns, changeTimeNs=when_ns,
                                        modificationTime=when_ns // 1_000_000, nlink=int(lease.status.get("nlink") or 2) + nlink,
                                        childrenNum=len(lease.names))

    def status_of(self, directory: str) -> dict[str, Any] | None:
        """The FileStatus ``directory`` had when this mount made it, while it holds its lease and
        changed neither its mode nor its owner (``attributes_changed``)."""
        lease = self._leases.get(directory)
        return lease.status if lease is not None and lease.until > time.monotonic() else None

    def attributes_changed(self, path: str) -> None:
        lease = self._leases.get(path)
        if lease is not None:
            lease.status = None

    def linked(self, file_id: int) -> None:
        """File ``file_id`` got another name: it is no longer closed behind (a client opening it
        by the other name would recall no lease of ours)."""
        with self._cond:
            for lease in self._leases.values():
                lease.blind.discard(file_id)

    def drop_tree(self, path: str) -> None:
        """``path`` was renamed or removed: leases at or below it are given back."""
        prefix = path.rstrip("/") + "/"
        with self._cond:
            for directory in [d for d in self._leases if d == path or d.startswith(prefix)]:
                self._release.add(self._leases.pop(directory).ino)
            self._cond.notify_all()

    def refused(self, file_id: int) -> OSError | None:
        """Why the name node refused the blind create of ``file_id`` (reported once), if it did."""
        with self._cond:
            return self._refused.pop(file_id, None)

    def barrier(self, first_block_of: int | None = None, reading: str | None = None) -> None:
        """Return once every blind change made so far is on the name node (every request of this
        mount but the batches themselves waits here); raise what stops them being sent.
        ``first_block_of``: that file (created blind) is about to ship its first bytes, so its
        create, if not sent yet, also asks for its first block (empty files never get one).
        ``reading``: the request only reads the status of that path, which no change queued
        outside it can alter: it waits only for changes at or below it (``stat`` of ``/`` during
        a copy into a leased directory does not wait for the copy)."""
        if getattr(self._local, "sender", False):
            return
        with self._cond:
            if first_block_of is not None:
                self._want_block(first_block_of)
            if reading is not None and not any(reading == d or reading.startswith(d.rstrip("/") + "/")
                                               for d in self._busy):
                return
            while self._queue or self._sending:
                if self._error is not None:
                    raise self._error
                if self._queue and not self._urgent:
                    self._urgent = True
                    self._cond.notify_all()
                self._cond.wait(RETRY_SECONDS)

    def close(self) -> None:
        """Unmount: send what is queued, give every lease and unused number back."""
        with self._cond:
            self._release.update(lease.ino for lease in self._leases.values())
            self._leases.clear()
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout=30)
        self._watcher.join(timeout=WATCH_SECONDS + 5)
        self._stores.shutdown(wait=False)

    # -- the sending thread ----------------------------------------------------------------

    def _sender(self) -> None:
        self._local.sender = True

    def _run(self) -> None:
        self._sender()
        failures = 0
        while True:
            with self._cond:
                wait = self._gathering()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                work = self._next_batch()
                if work is None:
                    if self._stop:
                        return
                    self._cond.wait(self.idle / 2)
                    continue
            sent = self._send(*work)
            failures = 0 if sent else failures + 1
            if self._stop and (sent and work[3] or failures >= STOP_ATTEMPTS):
                if not sent:
                    log.error("unmounting with the name node away: %d blind changes are lost", len(self._queue))
                return

    def _gathering(self) -> float:
        """Under the lock: how long to let changes gather before sending them (0: now). Nobody
        waits for them yet (``barrier``, a recall, unmount), so a batch may take ``GATHER_SECONDS``
        to fill: fewer, larger batches cost the mount and the name node less per change."""
        if not self._queue or self._urgent or self._stop or self._release or len(self._queue) >= BATCH_MAX:
            return 0.0
        return self._queued_at + GATHER_SECONDS - time.monotonic()

    def _next_batch(self) -> tuple[list[dict[str, Any]], list[int], int, bool] | None:
        """Under the lock: what to send now (None: nothing), leases idle long enough moved to
        the release set first."""
        now = time.monotonic()
        by_use = sorted(self._leases, key=lambda d: self._leases[d].used)
        names = sum(len(lease.names) for lease in self._leases.values())
        for i, directory in enumerate(by_use):
            lease = self._leases[directory]
            if len(by_use) - i > MAX_LEASES or names > MAX_ALL_NAMES or now - lease.used >= self.idle:
                names -= len(lease.names)
                self._release.add(self._leases.pop(directory).ino)
        ids = IDS if self._leases and self._ids[1] - self._ids[0] < IDS_LOW else 0
        end = self._stop and len(self._queue) <= BATCH_MAX
        if not (self._queue or self._release or ids or end):
            return None
        batch = self._queue[:BATCH_MAX]
        del self._queue[:BATCH_MAX]
        self._urgent = False
        self._sending = len(batch)
        # Leases go back after the last of their changes, the files closed behind stored too (so
        # with the next batch when this one has any); the session ends with the last batch.
        stores = any(op["op"] == "store" for op in batch)
        end = end and not stores
        release = sorted(self._release) if not self._queue and not stores else []
        self._release.difference_update(release)
        return batch, release, ids, end

    def _send(self, batch: list[dict[str, Any]], release: list[int], ids: int, end: bool) -> bool:
        """One batch: its creates and unlinks in one BATCH, then the files closed behind among
        them; the whole batch goes back to the queue, in order, if the BATCH could not be sent."""
        changes = [op for op in batch if op["op"] != "store"]
        stores = [op for op in batch if op["op"] == "store"]
        if changes or release or ids or end:
            error = self._send_changes(changes, release, ids, end)
            if error is not None:
                return self._failed(batch, release, error)
        again, error = self._store(stores, {op["fileId"] for op in changes if op["op"] == "delete"})
        with self._cond:
            kept = {id(op) for op in again}
            self._settled([op for op in batch if id(op) not in kept])
        if error is not None:
            return self._failed(again, [], error)
        with self._cond:
            self._sending = 0
            self._error = None
            self._cond.notify_all()
        return True

    def _send_changes(self, batch: list[dict[str, Any]], release: list[int], ids: int, end: bool) -> OSError | None:
        """One BATCH of the queue's creates and unlinks; the error that kept it from the name node."""
        sent_at = time.monotonic()
        try:
            answer = self.client.batch([{k: v for k, v in op.items() if k != "dir"} for op in batch],
                                       release=release, ids=ids, end=end)
        except IllegalArgument as error:  # refused whole (a bug of ours): sending it again cannot help
            answer = {"results": [to_remote_exception(error)] * len(batch)}
        except OSError as error:  # away, restarting, in safe mode: try again
            return error
        with self._cond:
            for op, result in zip(batch, answer.get("results") or []):
                if isinstance(result, dict) and "RemoteException" in result:
                    refusal = from_remote_exception(409, result)
                    log.error("the name node refused the blind %s of %r (fileId %d): %s", op["op"], op["name"],
                              op["fileId"], refusal)
                    self._refused[op["fileId"]] = refusal
                elif isinstance(result, dict) and isinstance(result.get("Block"), dict):
                    self.client.keep_first_block(op["fileId"], result["Block"])
            lost = self._answered(answer, sent_at)
            if answer.get("ids"):
                self._ids = [int(answer["ids"][0]), int(answer["ids"][1])]
            elif end:
                self._ids = [0, 0]
        self._recalled(lost)
        return None

    def _store(self, stores: list[dict[str, Any]], deleted: set[int]) -> tuple[list[dict[str, Any]], OSError | None]:
        """Write and commit the files closed behind (``blockio.write_bundle``); answers those to
        try again (the name node or every pipeline away) and why. A file removed meanwhile, or
        whose create was refused, is not written; one the name node refuses (its quota, a
        permission changed, a full cluster) is logged, and its refusal reported at its next close."""
        with self._cond:
            wanted = [op for op in stores if op["fileId"] not in deleted and op["fileId"] not in self._refused]
            self._pending_bytes -= sum(len(op["data"]) for op in stores if op not in wanted)
        files = [SmallFile(op["path"], op["data"], op["options"], self.client.take_first_block(op["fileId"]))
                 for op in wanted]
        try:
            results = self.client.write_bundle(files, executor=self._stores) if files else []
        except Exception as failure:  # noqa: BLE001 - never drop what a close was promised: keep it, log, retry
            log.exception("storing %d files closed behind failed; trying again", len(files))
            return wanted, failure if isinstance(failure, OSError) else OSError(errno.EIO, str(failure))
        again: list[dict[str, Any]] = []
        error: OSError | None = None
        with self._cond:
            for op, result in zip(wanted, results):
                if isinstance(result, DFSError) and _passing(result):
                    again.append(op)
                    error = error or result
                    continue
                self._pending_bytes -= len(op["data"])
                if isinstance(result, DFSError):
                    log.error("the name node refused the file %r closed behind (fileId %d): %s", op["path"],
                              op["fileId"], result)
                    self._refused[op["fileId"]] = result
        return again, error

    def _failed(self, batch: list[dict[str, Any]], release: list[int], error: OSError) -> bool:
        """The name node (or every pipeline) is away: keep the changes, in order, and try again."""
        log.warning("sending %d blind changes failed (%s); trying again", len(batch), error)
        with self._cond:
            self._queue[:0] = batch
            self._sending = 0
            self._release.update(release)
            self._error = error
            self._cond.notify_all()
        time.sleep(RETRY_SECONDS)
        return False

    def _answered(self, answer: dict[str, Any], sent_at: float) -> list[str]:
        """Under the lock: a batch's (or the watch's) answer: recalled leases stop being used and
        go back with the batch that sends their last change; the others run on. Answers the
        directories recalled (for ``on_recall``, called outside the lock)."""
        recalled = set(answer.get("recalled") or [])
        lost = []
        for directory, lease in list(self._leases.items()):
            if lease.ino in recalled:
                self._release.add(self._leases.pop(directory).ino)
                self._cond.notify_all()
                lost.append(directory)
            else:
                lease.until = sent_at + float(answer.get("seconds", 0)) - MARGIN_SECONDS
        return lost

    def _recalled(self, directories: list[str]) -> None:
        for directory in directories:
            if self.on_recall is not None:
                self.on_recall(directory)

    def _watch(self) -> None:
        """While this mount holds leases: a request the name node answers as soon as one is
        recalled (or after ``WATCH_SECONDS``, renewing them all), so another client waits for a
        recall about one round trip, however idle this mount is. It goes on for a lease recalled
        but not given back yet (the files closed under it being stored): renewed, not let expire
        under the client waiting for it, at a slower pace (the name node answers it at once)."""
        self._sender()
        while True:
            with self._cond:
                while not self._leases and not self._release and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
            sent_at = time.monotonic()
            try:
                answer = self.client.batch([], wait=WATCH_SECONDS)
            except OSError as error:
                log.warning("watching the leases failed (%s); trying again", error)
                time.sleep(RETRY_SECONDS)
                continue
            with self._cond:
                lost = self._answered(answer, sent_at)
            self._recalled(lost)
            if answer.get("recalled") and not lost:  # recalled before, still being given back
                time.sleep(RETRY_SECONDS)


def _passing(error: DFSError) -> bool:
    """An error that goes away by itself (a node away or restarting, the pipelines down): what
    failed with it is tried again. A full cluster is not: its files are refused, not held forever."""
    return (error.status >= 500 or error.status == 429) and not isinstance(error, NoSpace)
