"""In-process helpers: a NameNode on a temporary LMDB, driven with werkzeug's test Client."""
from __future__ import annotations

import json
from typing import Any

from werkzeug.test import Client

from dfs_common.settings import Settings
from name_node import NameNode


class NN:
    """A werkzeug client with WebHDFS helpers; ``user`` defaults to the superuser."""

    def __init__(self, node: NameNode) -> None:
        self.node = node
        self.client = Client(node)

    def call(self, method: str, path: str, op: str, user: str | None = "root", body: Any = None,
             **params: Any) -> tuple[int, Any, Any]:
        query = {"op": op, **{k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in params.items()}}
        if user is not None:
            query["user.name"] = user
        data = json.dumps(body) if body is not None and not isinstance(body, (bytes, str)) else body
        response = self.client.open("/webhdfs/v1" + path, method=method, query_string=query, data=data,
                                    content_type="application/json")
        raw = response.get_data()
        parsed = json.loads(raw) if raw and response.mimetype == "application/json" else None
        return response.status_code, parsed, response.headers

    def ok(self, method: str, path: str, op: str, **params: Any) -> Any:
        status, body, _ = self.call(method, path, op, **params)
        assert status == 200, (status, body)
        return body

    def post(self, path: str, body: Any) -> tuple[int, Any]:
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        response = self.client.post(path, data=data, content_type="application/json")
        return response.status_code, json.loads(response.get_data() or b"null")

    def heartbeat(self, node_id: str, remaining: int = 10**12, **place: str) -> dict[str, Any]:
        """``place``: ``site``, ``rack``, ``root`` as the data node reports them."""
        status, body = self.post("/internal/heartbeat", {
            "id": node_id, "url": f"http://{node_id}:8181", "public_url": "", "capacity": 2 * 10**12,
            "used": 0, "remaining": remaining, "blocks": 0, **place})
        assert status == 200, body
        return body

    def write_block(self, path: str, data_len: int = 100, nodes: tuple[str, ...] = ("dn1",),
                    checksum: str = "00000000000000aa") -> dict[str, Any]:
        """ADDBLOCK then confirm the block from ``nodes``: what a pipeline write leaves behind."""
        block = self.ok("POST", path, "ADDBLOCK")["Block"]
        for node in nodes:
            status, body = self.post("/internal/block_received", {"id": node, "blocks": [
                {"blockId": block["blockId"], "length": data_len, "checksum": checksum}]})
            assert status == 200 and not body.get("rejected"), body
        return {"blockId": block["blockId"], "length": data_len, "checksum": checksum}

    def commit(self, path: str, blocks: list[dict[str, Any]], **options: Any) -> tuple[int, Any]:
        status, body, _ = self.call("POST", path, "COMMIT", body={"blocks": blocks, **options})
        return status, body


def make_settings(tmp_path: Any, **overrides: Any) -> Settings:
    values = {"db_path": str(tmp_path / "name"), "db_map_size": 1 << 30, "heartbeat": 1.0}
    values.update(overrides)
    return Settings(**values)
