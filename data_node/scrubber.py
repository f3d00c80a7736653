"""The scrubber: re-hashes blocks at rest so bit rot is found before a client needs the bytes.

It walks the root's blocks least recently verified first (a new block counts as verified when it
is stored, a scrubbed one moves to the back), reading at most ``settings.scrub_rate`` bytes per
second, and starts a new pass as soon as one ends but no sooner than ``settings.scrub_interval``
after the last one started. So every replica is re-verified within max(interval, used / rate)
seconds of its last check, whether it was written long ago or a moment ago: the bound the README
documents. A block smaller than one chunk (64 KiB) is paced as one chunk, so a disk of tiny files
costs a bounded number of reads per second too.

A replica that fails its checksum is moved aside (quarantined) at once, so it is never served
again, and reported to the name node, which re-replicates it from a good copy (invariant 3). A
block whose file is gone is forgotten and reported the same way, so the name node never counts it.
"""
from __future__ import annotations

import logging
import threading
import time

from dfs_common.blocks import DIGEST_CHUNK, hasher
from dfs_common.errors import DFSError, NotFound
from dfs_common.loops import BackgroundLoop
from dfs_common.settings import Settings

from .namenode import NameNodeLink
from .roots import CHUNK, StorageRoot

log = logging.getLogger("dfs.data_node.scrubber")

MISSING = "missing on this data node"


class _Stopped(Exception):
    """The node is stopping in the middle of hashing a block."""


class Pace:
    """At most ``rate`` bytes per second, with no burst to catch up after a slow stretch: each
    read is paid for by a wait of its size / rate before the next one."""

    def __init__(self, rate: int, stop: threading.Event) -> None:
        self.rate = rate
        self._stop = stop
        self._next = 0.0

    def spend(self, size: int) -> None:
        """Account ``size`` bytes just read; waits until they are paid for (raises _Stopped if
        the node stops meanwhile)."""
        if self.rate <= 0:
            return
        now = time.monotonic()
        self._next = max(self._next, now) + size / self.rate
        if self._next > now and self._stop.wait(self._next - now):
            raise _Stopped


class Scrubber(BackgroundLoop):
    """Verifies every block at ``settings.scrub_rate`` bytes/s in a background thread."""

    thread_name = "dfs-scrubber"

    @property
    def enabled(self) -> bool:
        return self.pace.rate > 0 and self.settings.scrub_interval > 0

    def __init__(self, settings: Settings, root: StorageRoot, namenode: NameNodeLink,
                 rate: int | None = None) -> None:
        self.settings = settings
        self.root = root
        self.namenode = namenode
        super().__init__()
        self.pace = Pace(settings.scrub_rate if rate is None else rate, self._stop)
        # for /metrics: verifications so far, and the bytes of the pass in progress
        self.verified_blocks = self.verified_bytes = self.bad_blocks = self.passes = 0
        self.pass_bytes = self.pass_total = 0

    def scrub_once(self, throttle: bool = True) -> list[str]:
        """Check every stored block now, least recently verified first; returns the ids found
        bad or missing (already quarantined or forgotten, and reported)."""
        bad = []
        started, checked, size = time.monotonic(), 0, 0
        self.pass_bytes, self.pass_total = 0, self.root.usage().used
        for info in self.root.list():
            if self._stop.is_set():
                break
            if self.root.info(info.block_id) is None:
                continue  # deleted since the listing
            if not self.verify(info.block_id, throttle=throttle):
                bad.append(info.block_id)
            checked, size = checked + 1, size + info.length
            self.pass_bytes = size
        self.passes += 1
        if bad:
            log.warning("scrub found %d bad block(s): %s", len(bad), ", ".join(bad))
        log.debug("scrub pass: %d blocks, %d bytes in %.1fs", checked, size, time.monotonic() - started)
        return bad

    def verify(self, block_id: str, throttle: bool = False, report_missing: bool = True) -> bool:
        """Re-hash one block; on a mismatch quarantine and report it. A block missing here is
        reported too (the name node thinks we hold it: a ``verify`` command, or a file deleted
        behind our back, which ``root.open`` then forgets)."""
        info = self.root.info(block_id)
        if info is None:
            if report_missing:
                self.report(block_id, MISSING)
            return False
        try:
            length, digest = self._hash(block_id, throttle)
        except _Stopped:
            return True  # shutting down mid-block: no verdict, certainly not a bad one
        except NotFound:
            if report_missing:
                self.report(block_id, MISSING)
            return False
        except OSError as error:
            length, digest = -1, f"unreadable ({error})"
        if length == info.length and digest == info.checksum:
            self.root.mark_verified(block_id)
            self.verified_blocks += 1
            self.verified_bytes += length
            return True
        reason = (f"checksum mismatch: stored {info.length} bytes {info.checksum}, "
                  f"read {length} bytes {digest}")
        self.root.quarantine(block_id, reason)
        self.bad_blocks += 1
        self.report(block_id, reason)
        return False

    def _hash(self, block_id: str, throttle: bool) -> tuple[int, str]:
        file, _ = self.root.open(block_id)
        digest = hasher()
        total = 0
        with file:
            while chunk := file.read(CHUNK):
                digest.update(chunk)
                total += len(chunk)
                if throttle:
                    self.pace.spend(len(chunk))
        if throttle and total < DIGEST_CHUNK:
            self.pace.spend(DIGEST_CHUNK - total)  # a small block costs a seek like any other
        return total, digest.hexdigest()

    def report(self, block_id: str, reason: str) -> None:
        """Tell the name node this node's replica is bad or gone (best effort)."""
        try:
            self.namenode.bad_block(self.root.node_id(), block_id, reason)
        except DFSError as error:
            # The next block report omits the block anyway, so the name node still learns of it.
            log.warning("could not report bad block %s: %s", block_id, error)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.scrub_once()
            except Exception:  # noqa: BLE001 - a background loop must outlive one bad pass
                log.exception("scrub pass failed")
            self._stop.wait(max(0.0, self.settings.scrub_interval - (time.monotonic() - started)))
