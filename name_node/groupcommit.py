"""Group commit: concurrent write scopes share one LMDB write transaction and one commit.

LMDB has one writer at a time and a commit costs an fdatasync (plus, in ``always`` mode, the meta
page's), so one transaction per change caps a busy name node at about one change per fsync. Here
each write scope runs in a nested transaction of a shared batch: the first writer to arrive leads
(begins the batch and runs its own change), the writers that arrive meanwhile run theirs after it,
one at a time, each in its own child transaction (so a change that fails is undone alone), and the
leader commits them all at once. Every writer returns only after that commit (and its sync, when
the mode asks), so each change stays atomic and acknowledged only once LMDB has it: invariant 1.

While one batch commits (the fsync releases the GIL), the writers arriving wait, and the next
batch takes all of them: the busier the name node, the more changes share each fsync.

LMDB ties a write transaction to the thread holding its write lock only through that lock, which
the leader begins and commits; the followers use the batch, strictly one after another under
``_cond``, from their own threads (py-lmdb uses MDB_NOTLS; write transactions keep no
thread-local state).
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import lmdb

if TYPE_CHECKING:
    from .store import Store, Txn

# Changes per batch: bounds the latency a leader adds by admitting more writers (each change is
# tens of microseconds of Python) while sharing an fsync among plenty of them.
MAX_BATCH = 64


class _Batch:
    __slots__ = ("txn", "admitted", "count", "done", "error")

    def __init__(self, txn: lmdb.Transaction) -> None:
        self.txn = txn
        self.admitted = 1  # writers let in, the leader included
        self.count = 0  # child transactions committed into it
        self.done = threading.Event()  # committed (or failed): its followers may return
        self.error: BaseException | None = None


class GroupCommit:
    """The batching state of one environment; ``WriteScope`` is what ``Store.write()`` returns.

    One lock, two conditions, so a hand-off wakes one thread, not all: ``_turn`` wakes a writer
    waiting to lead or to enter (each change of state that may let one in wakes exactly one, and
    that one wakes the next when it leaves), ``_formed`` wakes the leader when the writer in the
    batch leaves. Followers wait for the commit on the batch's own event.
    """

    def __init__(self, store: Store, wrap: Callable[[lmdb.Transaction], Txn]) -> None:
        self.store = store
        self.wrap = wrap  # a raw transaction as the typed ``Txn`` handlers use
        lock = threading.Lock()
        self._lock = lock
        self._turn = threading.Condition(lock)
        self._formed = threading.Condition(lock)
        self._leader = False  # a batch is being formed or committed
        self._batch: _Batch | None = None  # the batch accepting writers, while it does
        self._busy = False  # a writer's change is running in the batch now
        self._waiting = 0  # writers waiting to lead or to enter
        self.batches = 0  # commits made (each of one or more changes): /status
        self.changes = 0

    def enter(self) -> tuple[_Batch, bool]:
        """Wait for a turn: answers the batch and whether this writer leads it."""
        with self._lock:
            self._waiting += 1
            try:
                while True:
                    if not self._leader:
                        self._leader = lead = True
                        break
                    batch = self._batch
                    if batch is not None and not self._busy and batch.admitted < MAX_BATCH:
                        batch.admitted += 1
                        lead = False
                        break
                    self._turn.wait()
            finally:
                self._waiting -= 1
            self._busy = True
            if not lead:
                assert batch is not None  # a follower joined this batch above
                return batch, False
        try:
            txn = self.store.env.begin(write=True)  # LMDB's write lock: this thread's until commit
        except BaseException:
            with self._lock:
                self._leader = self._busy = False
                self._turn.notify()
            raise
        batch = _Batch(txn)
        with self._lock:
            self._batch = batch
        return batch, True

    def leave(self, batch: _Batch, lead: bool, changed: bool) -> None:
        """After this writer's child transaction ended (committed into the batch if ``changed``):
        a follower waits for the batch's commit; the leader admits the waiting writers, then
        commits. Raises the commit's error in every writer whose change it carried."""
        with self._lock:
            self._busy = False
            if changed:
                batch.count += 1
            if self._waiting:
                self._turn.notify()
            if not lead:
                self._formed.notify()
            else:
                while self._busy or (self._waiting and batch.admitted < MAX_BATCH):
                    self._formed.wait()
                self._batch = None  # no more writers into this one
        if not lead:
            if changed:
                batch.done.wait()
                if batch.error is not None:
                    raise batch.error
            return
        try:
            if batch.count:
                self.store._commit(batch.txn)
            else:
                batch.txn.abort()
        except BaseException as error:
            batch.error = error
        with self._lock:
            self._leader = False
            if batch.count:
                self.batches += 1
                self.changes += batch.count
            if self._waiting:
                self._turn.notify()
        batch.done.set()
        if changed and batch.error is not None:
            raise batch.error


class WriteScope:
    """``with store.write() as txn``: the change runs in a child transaction of a shared batch;
    it is committed (with the others) on success, undone alone on any exception."""

    __slots__ = ("group", "batch", "lead", "child")

    def __init__(self, group: GroupCommit) -> None:
        self.group = group

    def __enter__(self) -> Txn:
        self.batch, self.lead = self.group.enter()
        try:
            self.child = self.group.store.env.begin(write=True, parent=self.batch.txn)
        except BaseException:
            self.group.leave(self.batch, self.lead, False)
            raise
        return self.group.wrap(self.child)

    def __exit__(self, kind: object, value: object, trace: object) -> None:
        changed = False
        try:
            if kind is None:
                self.child.commit()
                changed = True
            else:
                self.child.abort()
        finally:
            self.group.leave(self.batch, self.lead, changed)
