"""The data node's calls to its name node (``/internal/…``).

They go through the client library's ``Transport``: its lean urllib3 path for small JSON calls
(requests' per-call machinery cost a third of a block confirmation), its error translation, and
one keep-alive pool that the pipeline forwards share through ``transport.session``.
"""
from __future__ import annotations

from typing import Any

from dfs_client.liveness import Liveness
from dfs_client.transport import Transport
from dfs_common.auth import RequestSigner
from dfs_common.errors import Unavailable


class NameNodeLink:
    """POST JSON to ``<namenode_url>/internal/<name>``; failures become DFSError classes."""

    # (connect, read) seconds: a name node that does not answer within these is treated as down.
    TIMEOUT = (5.0, 30.0)

    def __init__(self, namenode_url: str, transport: Transport, liveness: Liveness | None = None,
                 signer: RequestSigner | None = None) -> None:
        self.base_url = namenode_url.rstrip("/")
        self.transport = transport
        self.liveness = liveness if liveness is not None else Liveness()
        # with DFS_SECRET every call proves this node knows it (dfs_common.auth)
        self.sign = signer.headers if signer is not None else None

    def call(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        # Every internal call may be repeated harmlessly (a confirmation or report sent twice
        # records the same thing), so a connection broken mid-way is retried too.
        url = f"{self.base_url}/internal/{name}"
        answer = self.transport.call("POST", url, json_body=body, idempotent=True, sign=self.sign)
        if answer is None:
            return {}
        if not isinstance(answer, dict):
            raise Unavailable(f"Name node answered {url} with something other than a JSON object")
        if name == "heartbeat":  # it names the dead data nodes: cut our forwards to them
            self.liveness.update(answer.get("dead"))
        return answer

    def block_received(self, node_id: str, blocks: list[dict[str, Any]],
                       commit: dict[str, Any] | None = None) -> tuple[list[str], dict[str, Any]]:
        """Confirm replicas (each block may name its ``holders``: the nodes of a pipeline);
        returns the ids the name node rejected (they must be deleted) and, with ``commit`` (the
        writer's ``X-DFS-Commit``, one block), the COMMIT's outcome: ``{"commit": …}`` or
        ``{"commitError": …}``."""
        body: dict[str, Any] = {"id": node_id, "blocks": blocks}
        if commit is not None:
            body["commit"] = commit
        answer = self.call("block_received", body)
        rejected = [str(entry.get("blockId") if isinstance(entry, dict) else entry)
                    for entry in answer.get("rejected", []) or []]
        return rejected, {key: answer[key] for key in ("commit", "commitError") if key in answer}

    def bundle_received(self, node_id: str, blocks: list[dict[str, Any]],
                        commits: list[Any]) -> tuple[list[str], list[dict[str, Any]]]:
        """``block_received`` for a bundle's blocks, each with the COMMIT its writer sent along
        (or None): the ids rejected and, per block, its COMMIT's outcome (``{}`` for none)."""
        answer = self.call("block_received", {"id": node_id, "blocks": blocks, "commits": commits})
        rejected = [str(entry.get("blockId") if isinstance(entry, dict) else entry)
                    for entry in answer.get("rejected", []) or []]
        outcomes = answer.get("commits")
        if not isinstance(outcomes, list) or len(outcomes) != len(blocks):
            outcomes = [{} for _ in blocks]
        return rejected, [outcome if isinstance(outcome, dict) else {} for outcome in outcomes]

    def bad_block(self, node_id: str, block_id: str, reason: str) -> None:
        self.call("bad_block", {"id": node_id, "blockId": block_id, "reason": reason})
