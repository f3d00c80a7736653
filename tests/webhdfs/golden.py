"""Replay the WebHDFS cases (``cases.py``) against a cluster and compare with, or record, the golden
files in ``tests/webhdfs/golden/`` (one JSON file per case: the request and the answer).

What is compared: the status, ``Content-Type``, the ``Location`` of a redirect (its host, path and
parameter names; the values that differ per run are replaced by ``<volatile>``), the JSON body
(times, ids, tokens and ports replaced the same way), and for a data answer its bytes.

    python -m tests.webhdfs.golden        # records the files afresh on a new cluster (review the diff!)
"""
from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests

from tests.cluster import ADMIN_AUTH, Cluster
from tests.webhdfs.cases import CASES, Case

GOLDEN = Path(__file__).resolve().parent / "golden"
VOLATILE = "<volatile>"
# values that differ from run to run (times, ids, tokens) or from machine to machine (capacity)
VOLATILE_KEYS = frozenset({"accessTime", "modificationTime", "fileId", "urlString", "long", "blockId",
                           "ctime", "created", "time", "frozen_at", "released_at", "generationStamp",
                           "capacity", "remaining", "used", "token"})
VOLATILE_QUERY = frozenset({"delegation", "namenoderpcaddress", "expires", "signature", "nonce"})
_PORT = re.compile(r"(127\.0\.0\.1|localhost):\d+")
ENV = {"DFS_BLOCK_SIZE": str(1 << 20)}


def _scrub(value: Any, key: str = "") -> Any:
    if key in VOLATILE_KEYS or key.endswith("TimeNs"):
        return VOLATILE
    if isinstance(value, dict):
        return {k: _scrub(v, k) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [_scrub(v, key) for v in value]
    if isinstance(value, str):
        return _PORT.sub(r"\1:<port>", value)
    return value


def _location(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    query = {k: (VOLATILE if k.lower() in VOLATILE_QUERY else v) for k, v in parse_qsl(parts.query)}
    return {"scheme": parts.scheme, "host": _PORT.sub(r"\1:<port>", parts.netloc), "path": parts.path,
            "query": dict(sorted(query.items()))}


def _answer(response: requests.Response) -> dict[str, Any]:
    kind = response.headers.get("Content-Type", "")
    answer: dict[str, Any] = {"status": response.status_code, "content-type": kind}
    if "Location" in response.headers:
        answer["location"] = _location(response.headers["Location"])
    if kind.startswith("application/json"):
        answer["json"] = _scrub(response.json())
    elif response.content:
        answer["bytes"] = response.content.decode("latin-1")
    return answer


def replay(cluster: Cluster, case: Case) -> dict[str, Any]:
    """Send ``case`` as a client would; answer what a golden file holds."""
    url = f"{cluster.namenode_url}/webhdfs/v1{case.path}"
    headers = {} if case.anonymous else dict(ADMIN_AUTH)
    first = requests.request(case.method, url, params=case.params, headers=headers, allow_redirects=False,
                             data=None if case.follow else case.body, timeout=60)
    record: dict[str, Any] = {"request": {"method": case.method, "path": case.path, "params": case.params},
                              "response": _answer(first)}
    if case.body is not None:
        record["request"]["body"] = case.body.decode("latin-1")
    if case.follow and first.status_code == 307:
        # the data node URL is self-contained: it carries the grant, no header is needed
        second = requests.request(case.method, first.headers["Location"], data=case.body, timeout=60)
        record["then"] = _answer(second)
    return record


def path_of(index: int, case: Case) -> Path:
    return GOLDEN / f"{index:03d}-{case.name}.json"


def dump(record: dict[str, Any]) -> str:
    return json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> int:
    GOLDEN.mkdir(exist_ok=True)
    for old in GOLDEN.glob("*.json"):
        old.unlink()
    with tempfile.TemporaryDirectory() as base, Cluster(base, env=ENV) as cluster:
        cluster.client("root").mkdirs("/golden")
        for index, case in enumerate(CASES):
            path_of(index, case).write_text(dump(replay(cluster, case)))
    print(f"recorded {len(CASES)} cases in {GOLDEN}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
