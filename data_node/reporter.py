"""Heartbeats, block reports and the commands the name node sends back.

One background thread: a heartbeat every ``settings.heartbeat`` seconds (capacity and block count;
it also registers a node the name node does not know, e.g. after either side restarted), a full
block report at start, after an outage, when asked and every ``block_report_interval``; then the
commands of the answer. Copies and re-hashes run in a small pool so they never delay a heartbeat
(a node that misses heartbeats is declared dead). The name node being down is a normal state:
retried quietly, logged once per outage.
"""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from dfs_common.errors import DFSError, NotFound
from dfs_common.loops import BackgroundLoop
from dfs_common.settings import Settings

from .blocks import BlockService
from .namenode import NameNodeLink
from .reconstruct import reconstruct
from .roots import StorageRoot, capped, root_kind
from .scrubber import Scrubber

log = logging.getLogger("dfs.data_node.reporter")


# Concurrent replicate/verify commands: enough to heal a dead peer's blocks quickly, few enough
# that client traffic keeps most of the disk and network.
COMMAND_WORKERS = 4


class Reporter(BackgroundLoop):
    """Keeps the name node informed about this node and carries out its commands."""

    thread_name = "dfs-reporter"

    def __init__(self, settings: Settings, root: StorageRoot, namenode: NameNodeLink,
                 blocks: BlockService, scrubber: Scrubber) -> None:
        self.settings = settings
        self.root = root
        self.namenode = namenode
        self.blocks = blocks
        self.scrubber = scrubber
        self.node_id = root.node_id()
        super().__init__()
        self._pool = ThreadPoolExecutor(COMMAND_WORKERS, thread_name_prefix="dfs-command")
        self._busy: set[str] = set()
        self._busy_lock = threading.Lock()
        self._report_due = True
        self._last_report = 0.0
        self._down = False
        self.healthy = True  # the root's health at the last heartbeat

    def stop(self) -> None:
        super().stop()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def tick(self) -> bool:
        """One round: heartbeat, block report if due, commands. False if the name node is down."""
        try:
            commands = self.heartbeat_once()
            interval = self.settings.block_report_interval
            if self._report_due or (interval > 0 and time.monotonic() - self._last_report >= interval):
                self.block_report_once()
            self.execute(commands)
        except DFSError as error:
            self._report_due = True  # the name node may have restarted and forgotten us
            if not self._down:
                log.warning("name node %s unreachable (%s); retrying every %.1fs quietly",
                            self.namenode.base_url, error.message, self.settings.heartbeat)
                self._down = True
            return False
        if self._down:
            log.info("name node %s is back", self.namenode.base_url)
            self._down = False
        return True

    def heartbeat_once(self) -> list[dict[str, Any]]:
        healthy = self.healthy = self.root.check_health()  # unhealthy: no new blocks, no readers
        usage = capped(self.root.usage(), self.settings.capacity)
        answer = self.namenode.call("heartbeat", {
            "id": self.node_id, "url": self.settings.node_url, "public_url": self.settings.client_url,
            "capacity": usage.capacity, "used": usage.used, "remaining": usage.remaining,
            "blocks": self.root.count(), "healthy": healthy, "root": root_kind(self.root),
            "site": self.settings.site, "rack": self.settings.rack,
        })
        if answer.get("block_report"):
            self._report_due = True
        commands = answer.get("commands") or []
        return [command for command in commands if isinstance(command, dict)]

    def block_report_once(self) -> None:
        """The full list of what is really on the disk: blocks whose files went missing behind
        our back are dropped first (``root.audit``), so they are never reported as held."""
        self.root.audit()
        blocks = [[info.block_id, info.length, info.checksum] for info in self.root.list()]
        answer = self.namenode.call("block_report", {"id": self.node_id, "blocks": blocks})
        self._report_due = False
        self._last_report = time.monotonic()
        doomed = answer.get("delete") or []
        if doomed:
            removed = self.blocks.delete([str(block_id) for block_id in doomed])
            log.info("block report: deleted %d unreferenced block(s)", removed)

    def execute(self, commands: list[dict[str, Any]]) -> None:
        for command in commands:
            op = command.get("op")
            if op == "delete":
                self.blocks.delete([str(block_id) for block_id in command.get("blocks") or []],
                                   gone=command.get("gone") is True)
            elif op == "replicate":
                targets = [str(url) for url in command.get("targets") or []]
                self._submit(str(command.get("blockId")), self._replicate, targets)
            elif op == "verify":
                self._submit(str(command.get("blockId")), self._verify)
            elif op == "reconstruct":
                self._submit(str(command.get("blockId")), self._reconstruct, command)
            else:
                log.warning("ignoring unknown name node command %r", op)

    def _submit(self, block_id: str, action: Any, *args: Any) -> None:
        with self._busy_lock:
            key = f"{action.__name__}:{block_id}"
            if key in self._busy:
                return  # the same command again while the first is still running
            self._busy.add(key)

        def run() -> None:
            try:
                action(block_id, *args)
            except Exception as error:  # noqa: BLE001 - a failed command must not kill the pool
                log.warning("%s of block %s failed: %s", action.__name__.lstrip("_"), block_id, error)
            finally:
                with self._busy_lock:
                    self._busy.discard(key)

        try:
            self._pool.submit(run)
        except RuntimeError:  # the pool is shut down: the node is stopping
            with self._busy_lock:
                self._busy.discard(key)

    def _replicate(self, block_id: str, targets: list[str]) -> None:
        if not targets:
            return
        try:
            if self.root.info(block_id) is None:
                raise NotFound(f"Block {block_id} is not stored here")
            stored = self.blocks.replicate(block_id, targets)
        except NotFound:
            self.scrubber.verify(block_id)  # the name node counts a copy we do not have: tell it
            raise
        log.info("replicated block %s to %s", block_id, ", ".join(stored))

    def _reconstruct(self, block_id: str, command: dict[str, Any]) -> None:
        """Rebuild a lost fragment of a coded group here, from k others (see ``reconstruct``)."""
        reconstruct(command, self.blocks.forwarder, self.settings.node_url)

    def _verify(self, block_id: str) -> None:
        """A bad or missing replica is reported (by the scrubber); a good one is confirmed, which
        is what lets the name node trim a block's surplus copies only once those it keeps are
        known to be intact."""
        ok = self.scrubber.verify(block_id)
        info = self.root.info(block_id) if ok else None
        if info is not None:
            self.namenode.block_received(self.node_id, [info.as_json()])
        log.info("verify of block %s: %s", block_id, "good, confirmed" if info else "bad, reported")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - a background loop must outlive one bad round
                log.exception("reporter round failed")
            self._stop.wait(self.settings.heartbeat)
