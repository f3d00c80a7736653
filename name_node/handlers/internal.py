"""Endpoints outside WebHDFS: the data nodes' ``/internal/`` calls and the cluster views.

Data nodes are trusted only as far as the protocol needs: bodies must be well-formed JSON objects
(anything else is a 400, never a crash), and a replica counts only when its length and checksum
match what the block map expects.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from werkzeug.wrappers import Request, Response

from dfs_common import discovery
from dfs_common.errors import IllegalArgument, NotPermitted
from dfs_common.settings import Settings
from dfs_common.web import Params, json_response, read_json_object

from .. import blockmap
from ..balancer import Balancer
from ..heal import Healer
from ..members import Members
from ..permissions import GroupMapping
from ..placement import Placement
from ..safemode import SafeModeState
from ..store import ROOT_INO, Store, format_root, pack_u64
from .call import caller_of

MAX_INTERNAL_BODY = 256 * 1024 * 1024  # a block report of millions of blocks still fits


def read_json(request: Request) -> dict[str, Any]:
    return read_json_object(request, MAX_INTERNAL_BODY)


def node_id_of(body: dict[str, Any]) -> str:
    node_id = body.get("id")
    if not isinstance(node_id, str) or not node_id:
        raise IllegalArgument('Missing data node "id"')
    return node_id


class InternalOps:
    """``/internal/*`` (heartbeats, confirmations, reports) and the cluster views."""

    def __init__(self, store: Store, members: Members, placement: Placement, healer: Healer,
                 groups: GroupMapping, settings: Settings, *, safemode: SafeModeState,
                 balancer: Balancer,
                 commit: Callable[[list[tuple[Any, dict[str, Any]]], str | None], list[dict[str, Any]]]) -> None:
        self.safemode = safemode
        self.commit = commit  # ContentOps.commit_for_writers: COMMITs that came with their blocks
        self.balancer = balancer
        self.store = store
        self.members = members
        self.placement = placement
        self.healer = healer
        self.groups = groups
        self.settings = settings

    def on_heartbeat(self, request: Request) -> Response:
        body = read_json(request)
        with self.store.write() as txn:
            member, wants_report = self.members.heartbeat(txn, body)
            deletions = blockmap.take_deletions(txn, member.id)
            # a block gone from the map never comes back (ids are not reused): the node may refuse
            # a late copy of it (a pipeline that failed while it was stopped); a trimmed one may
            gone = [block_id for block_id in deletions if txn.block(int(block_id, 16)) is None]
        commands = self.members.take_commands(member)
        kept = sorted(set(deletions) - set(gone))
        if kept:
            commands.insert(0, {"op": "delete", "blocks": kept})
        if gone:
            commands.insert(0, {"op": "delete", "blocks": gone, "gone": True})
        # the dead nodes ride along: the sender cuts its in-flight forwards to them
        return json_response({"commands": commands, "block_report": wants_report,
                              "dead": self.members.dead_names()})

    def on_block_received(self, request: Request) -> Response:
        """Confirmed replicas. Each block may name its ``holders`` (the head of a write pipeline
        confirms every copy the pipeline stored); holders the name node does not know are skipped
        and the block is then healed like any other short one. With ``commit`` (one block: the
        COMMIT its writer sent along, ``X-DFS-Commit``) the file is committed with it once it is
        confirmed, and the answer carries the COMMIT's (``commit`` or ``commitError``). A bundle's
        head sends ``commits`` instead, a COMMIT or null per block, and gets each one's outcome."""
        body = read_json(request)
        node_id = self._known(body)
        blocks = body.get("blocks")
        if not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks):
            raise IllegalArgument('"blocks" must be a list of objects')
        if "commit" in body and len(blocks) != 1:
            raise IllegalArgument('"commit" goes with exactly one block')
        commits = body.get("commits")
        if commits is not None and (not isinstance(commits, list) or len(commits) != len(blocks)):
            raise IllegalArgument('"commits" (a bundle\'s) has one entry, a COMMIT or null, per block')
        confirmed = [(item, self._holders(item, node_id)) for item in blocks]
        rejected: list[Any] = []
        accepted: list[tuple[str, int]] = []
        landed: list[tuple[int, list[str], int]] = []
        with self.store.write() as txn:
            for item, holders in confirmed:
                numbers = [(holder, blockmap.receive(txn, holder, item.get("blockId"), item.get("length"),
                                                     item.get("checksum"), item.get("crc32c")))
                           for holder in holders]
                # unknown or mismatching (the same for all), or no holder this name node knows of
                if not numbers or any(number is None for _, number in numbers):
                    rejected.append(item.get("blockId"))
                else:
                    accepted.extend(numbers)  # type: ignore[arg-type]
                    landed.append((numbers[0][1], holders, int(item["length"])))  # type: ignore[arg-type]
        for number, holders, length in landed:  # their reservations become real lengths
            self.placement.confirmed(number, holders, length)
        self.balancer.confirmed(accepted)  # before the healer sees a surplus: it picks the copy to drop
        self.healer.confirmed(accepted)
        if commits is not None:  # a bundle: each accepted block's COMMIT, whatever became of the others
            wanted = [index for index, (item, commit) in enumerate(zip(blocks, commits))
                      if commit is not None and item.get("blockId") not in rejected]
            made = self.commit([(commits[index], blocks[index]) for index in wanted], request.remote_addr)
            outcomes: list[dict[str, Any]] = [{} for _ in blocks]
            for index, outcome in zip(wanted, made):
                outcomes[index] = outcome
            return json_response({"rejected": rejected, "commits": outcomes})
        if rejected:
            return json_response({"rejected": rejected})
        return json_response(self.commit([(body["commit"], blocks[0])], request.remote_addr)[0] if "commit" in body else {})

    def _holders(self, item: dict[str, Any], sender: str) -> list[str]:
        holders = item.get("holders", [sender])
        if not isinstance(holders, list) or not holders or len(holders) > 512 \
                or not all(isinstance(holder, str) for holder in holders):
            raise IllegalArgument('"holders" must be a non-empty list of data node ids')
        return [holder for holder in dict.fromkeys(holders) if self.members.get(holder) is not None]

    def on_block_report(self, request: Request) -> Response:
        body = read_json(request)
        node_id = self._known(body)
        blocks = body.get("blocks")
        if not isinstance(blocks, list):
            raise IllegalArgument('"blocks" must be a list')
        with self.store.write() as txn:
            delete, lost, gained = blockmap.reconcile(txn, node_id, blocks)
        self.members.mark_reported(node_id)
        self.safemode.reported(node_id)
        self.healer.lost(node_id, lost)
        self.healer.suspect(gained)
        return json_response({"delete": delete})

    def on_bad_block(self, request: Request) -> Response:
        body = read_json(request)
        node_id = self._known(body)
        number = int(blockmap.parse_block_id(body.get("blockId")), 16)  # type: ignore[arg-type]
        with self.store.write() as txn:
            blockmap.remove_replica(txn, node_id, number, delete_on_node=False)
        self.healer.bad(node_id, [number])
        return json_response({})

    def _known(self, body: dict[str, Any]) -> str:
        node_id = node_id_of(body)
        if self.members.get(node_id) is None:
            raise IllegalArgument(f"Unknown data node {node_id[:64]!r}: send a heartbeat first")
        return node_id

    # cluster views -------------------------------------------------------------------------
    def on_ping_alive(self, request: Request) -> Response:
        return json_response({"alive": True})

    def on_identify(self, request: Request) -> Response:
        """``GET /internal/identify?nonce=N``: this name node knows the cluster secret (a node that
        discovered it on the LAN checks the proof before joining; see ``dfs_common.discovery``)."""
        nonce = Params(request.args).required("nonce")[:128]
        settings = self.settings
        return json_response({"proof": discovery.proof(settings.secret, nonce) if settings.secure else ""})

    def on_liveness(self, request: Request) -> Response:
        """``GET /liveness``: the data nodes declared dead (ids and URLs) and the heartbeat
        interval: a writer polls it while block transfers are in flight and cuts those that wait
        on a dead node (``dfs_client.liveness``)."""
        settings = self.settings
        return json_response({"heartbeat": settings.heartbeat, "dead_after": settings.dead_after,
                              "dead": self.members.dead_names()})

    def on_df(self, request: Request) -> Response:
        return json_response(self.members.totals())

    def on_status(self, request: Request) -> Response:
        with self.store.read() as txn:
            counts = {"files": txn.counter("files"), "directories": txn.counter("dirs"),
                      "blocks": txn.entries("blocks")}
        healer = self.healer
        return json_response({"datanodes": self.members.status(),
                              "namenode": dict(url=self.settings.node_url, **counts,
                                               under_replicated=healer.under_replicated,
                                               missing=healer.missing, corrupt=len(healer.corrupt_blocks()),
                                               replications=healer.replications,
                                               durability=self.store.durability()),
                              "safemode": self.safemode.status(),
                              "balancer": self.balancer.status()})

    def on_mkfs(self, request: Request) -> Response:
        self.safemode.check("format the filesystem")
        caller = caller_of(request, self.groups)
        if not caller.superuser:
            raise NotPermitted("Only the superuser may format the filesystem")
        settings = self.settings
        with self.store.write() as txn:
            numbers = [int.from_bytes(key, "big") for key, _ in txn.scan("blocks")]
            blockmap.drop_blocks(txn, numbers)
            for name in ("inodes", "dirents", "extents", "xattrs", "pending"):
                txn.txn.drop(txn.db[name], delete=False)
            txn.put("meta", b"files", pack_u64(0))
            format_root(txn, settings.superuser, settings.supergroup)
            assert txn.inode(ROOT_INO) is not None
        return json_response({"boolean": True, "formatted": time.time()})
