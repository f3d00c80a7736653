"""The data node's calls to its name node (``/internal/…``), and the HTTP session they share.

One ``requests.Session`` with a connection pool serves the name-node calls and the pipeline
forwards, so a busy node reuses keep-alive connections instead of opening one per block.
"""
from __future__ import annotations

from typing import Any

import requests
from requests.adapters import HTTPAdapter

from dfs_common.errors import Unavailable, from_remote_exception


def make_session(pool_size: int) -> requests.Session:
    """A session that never retries by itself: every caller decides what a failure means."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=16, pool_maxsize=max(pool_size, 4), max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.trust_env = False  # a proxy from the environment must not sit between nodes
    return session


class NameNodeLink:
    """POST JSON to ``<namenode_url>/internal/<name>``; failures become DFSError classes."""

    # (connect, read) seconds: a name node that does not answer within these is treated as down.
    TIMEOUT = (5.0, 30.0)

    def __init__(self, namenode_url: str, session: requests.Session) -> None:
        self.base_url = namenode_url.rstrip("/")
        self.session = session

    def call(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.base_url}/internal/{name}"
        try:
            response = self.session.post(url, json=body, timeout=self.TIMEOUT)
        except requests.RequestException as error:
            raise Unavailable(f"Name node unreachable at {url}: {type(error).__name__}") from None
        try:
            answer = response.json() if response.content else {}
        except ValueError:
            answer = None
        if response.status_code >= 300:
            raise from_remote_exception(response.status_code, answer)
        if not isinstance(answer, dict):
            raise Unavailable(f"Name node answered {url} with something other than a JSON object")
        return answer

    def block_received(self, node_id: str, blocks: list[dict[str, Any]]) -> list[str]:
        """Confirm replicas; returns the ids the name node rejected (they must be deleted)."""
        answer = self.call("block_received", {"id": node_id, "blocks": blocks})
        return [str(entry.get("blockId") if isinstance(entry, dict) else entry)
                for entry in answer.get("rejected", []) or []]

    def block_dropped(self, node_id: str, block_ids: list[str]) -> None:
        """Withdraw confirmations of replicas removed again (their pipeline failed downstream)."""
        self.call("block_received", {"id": node_id, "blocks": [], "dropped": block_ids})

    def bad_block(self, node_id: str, block_id: str, reason: str) -> None:
        self.call("bad_block", {"id": node_id, "blockId": block_id, "reason": reason})

