"""The scrubber: re-hashes blocks at rest so bit rot is found before a client needs the bytes.

A replica that fails its checksum is moved aside (quarantined) at once, so it is never served
again, and reported to the name node, which re-replicates it from a good copy (invariant 3).
"""
from __future__ import annotations

import logging
import time

from dfs_common.blocks import hasher
from dfs_common.errors import DFSError, NotFound
from dfs_common.loops import BackgroundLoop
from dfs_common.settings import Settings

from .namenode import NameNodeLink
from .roots import CHUNK, StorageRoot

log = logging.getLogger("dfs.data_node.scrubber")

# 64 MiB/s: a background pass must leave the disk to the clients; a 4 TB disk is still scrubbed
# in under a day.
SCRUB_BYTES_PER_SECOND = 64 * 1024 * 1024


class _Stopped(Exception):
    """The node is stopping in the middle of hashing a block."""


class Scrubber(BackgroundLoop):
    """Verifies blocks in a background thread every ``settings.scrub_interval`` seconds."""

    thread_name = "dfs-scrubber"

    @property
    def enabled(self) -> bool:
        return self.settings.scrub_interval > 0

    def __init__(self, settings: Settings, root: StorageRoot, namenode: NameNodeLink,
                 rate: int = SCRUB_BYTES_PER_SECOND) -> None:
        self.settings = settings
        self.root = root
        self.namenode = namenode
        self.rate = rate
        super().__init__()

    def scrub_once(self, throttle: bool = True) -> list[str]:
        """Check every stored block now; returns the ids found bad (already quarantined)."""
        bad = []
        for info in self.root.list():
            if self._stop.is_set():
                break
            if self.root.info(info.block_id) is None:
                continue  # deleted since the listing
            if not self.verify(info.block_id, throttle=throttle, report_missing=False):
                bad.append(info.block_id)
        if bad:
            log.warning("scrub found %d bad block(s): %s", len(bad), ", ".join(bad))
        return bad

    def verify(self, block_id: str, throttle: bool = False, report_missing: bool = True) -> bool:
        """Re-hash one block; on a mismatch quarantine and report it. A block missing here is
        reported too (the name node thinks we hold it: a ``verify`` command)."""
        info = self.root.info(block_id)
        if info is None:
            if report_missing:
                self._report(block_id, "missing on this data node")
            return False
        try:
            length, digest = self._hash(block_id, throttle)
        except _Stopped:
            return True  # shutting down mid-block: no verdict, certainly not a bad one
        except NotFound:
            if report_missing:
                self._report(block_id, "missing on this data node")
            return False
        except OSError as error:
            length, digest = -1, f"unreadable ({error})"
        if length == info.length and digest == info.checksum:
            return True
        reason = (f"checksum mismatch: stored {info.length} bytes {info.checksum}, "
                  f"read {length} bytes {digest}")
        self.root.quarantine(block_id, reason)
        self._report(block_id, reason)
        return False

    def _hash(self, block_id: str, throttle: bool) -> tuple[int, str]:
        file, _ = self.root.open(block_id)
        digest = hasher()
        total = 0
        started = time.monotonic()
        with file:
            while chunk := file.read(CHUNK):
                digest.update(chunk)
                total += len(chunk)
                if throttle and self.rate > 0:
                    ahead = total / self.rate - (time.monotonic() - started)
                    if ahead > 0 and self._stop.wait(ahead):
                        raise _Stopped
        return total, digest.hexdigest()

    def _report(self, block_id: str, reason: str) -> None:
        try:
            self.namenode.bad_block(self.root.node_id(), block_id, reason)
        except DFSError as error:
            # The next block report omits the block anyway, so the name node still learns of it.
            log.warning("could not report bad block %s: %s", block_id, error)

    def _run(self) -> None:
        while not self._stop.wait(self.settings.scrub_interval):
            try:
                self.scrub_once()
            except Exception:  # noqa: BLE001 - a background loop must outlive one bad pass
                log.exception("scrub pass failed")
