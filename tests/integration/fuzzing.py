"""What the fuzz test (test_fuzz_endpoints.py) sends and how it judges an answer.

Strategies make *mostly plausible* requests with garbage in a few places (a request garbled
everywhere is refused by its first check and reaches nothing deeper); ``send`` and ``exchange`` put
them on the wire byte for byte with a socket timeout, ``check_answer`` and ``check_raw_answers``
hold the answers to the contract: a success, or a 4xx (or a documented retriable 5xx) whose body
is a RemoteException.
"""
from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import strategies as st

from tests.cluster import Cluster, Node, send_raw

TIMEOUT = 30.0  # seconds a node may take to answer one fuzzed request; longer counts as a hang
MARK = "fzq"  # in every name the fuzzer makes, so a file that escaped is found by name
FZ = "/" + MARK  # the fixture tree: FZ/d (directory), FZ/f (file), FZ/l (symlink to FZ/f)
METHODS = ["GET", "PUT", "POST", "DELETE", "HEAD", "PATCH", "OPTIONS"]

# 5xx answers that are documented, retriable states rather than failures (docs/PROTOCOL.md):
# 502 PipelineFailed: a block PUT whose X-DFS-Pipeline names a node that is not there to forward to;
# 503 RetriableException: no live data node holds a block / the name node could not be reached;
# 507 DiskOutOfSpace: placement found no node for a block.
ALLOWED_5XX = {502: "RetriableException", 503: "RetriableException", 507: "DiskOutOfSpaceException"}

PARAM_NAMES = ["op", "offset", "length", "blocksize", "replication", "permission", "overwrite", "recursive",
               "destination", "renameoptions", "newlength", "modificationtime", "accesstime",
               "modificationtimens", "accesstimens", "owner", "group", "xattr.name", "xattr.value", "flag",
               "encoding", "sources", "startAfter", "fsaction", "blockid", "datanode", "exclude", "kind",
               "parents", "createParent", "buffersize", "noredirect", "namenoderpcaddress", "doas"]

SPECIAL = ["", ".", "..", "%", "%00", "%2e%2e", "%zz", "\0", "a\0b", "-1", "-2", "0", "1", "-0", "0x10", "1_0",
           "1e400", "NaN", "Infinity", "true", "FALSE", "0777", "7777", "17777", str(2**63), str(2**63 - 1),
           str(-(2**63) - 1), str(2**70), "9" * 70, "http://[::1", "http://[::1]:99999", "http://127.0.0.1:1",
           "://", "/", "//", FZ, FZ + "/f", FZ + "/d", FZ + "/l", FZ + "/d/" + MARK + "x", "../../etc/" + MARK,
           MARK + "x" * 300, "é", "😀", " ", "\n", "\r\n", "a,b", FZ + "/f," + FZ + "/d", "CREATE,REPLACE",
           "OVERWRITE", "NONE", "rwx", "r-x", "file", "directory", "root", "dr.who", "nobody", "user.a",
           "trusted.b", "0x6869", "0sAAAA", '"quoted"', "0000000000000001", "ffffffffffffffff"]


def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any], odds: int = 4) -> st.SearchStrategy[Any]:
    """``good`` ``odds`` times in ``odds + 1``, else ``bad``: plausible requests with some garbage
    reach deeper than garbage everywhere, which the first check refuses."""
    return st.integers(0, odds).flatmap(lambda i: bad if i == odds else good)


# short strings of the characters that break parsers: NUL and other controls, separators, non-ASCII
nasty = st.text(alphabet=st.sampled_from("\0\x01\n\r\t\x7f %/.,:;=&?#[]@\\'\"é\u2028😀0"), min_size=1, max_size=8)
bad_users = st.sampled_from(["a\0b", "\0", "root\0", "x\ny", "u" * 300, "", "%00"]) | nasty
text = st.one_of(st.sampled_from(SPECIAL), nasty, st.text(max_size=24), st.integers(-(2**70), 2**70).map(str))
numbers = mostly(st.integers(0, 2**40), st.one_of(st.integers(-(2**70), 2**70), st.floats(),
                                                  st.sampled_from([2**50, 2**63 - 1, 2**63, 10**30])))
json_values = st.recursive(st.none() | st.booleans() | numbers | text,
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
                           max_leaves=12)
block_ids = mostly(st.integers(1, 2**64 - 1).map(lambda n: f"{n:016x}"), text)
checksums = mostly(st.integers(0, 2**64 - 1).map(lambda n: f"{n:016x}"), text | numbers)
segment = st.one_of(st.sampled_from(["d", "f", "l", "..", ".", "", "%2e%2e", "x" * 300]),
                    text.map(lambda t: MARK + t))

FIXTURE_PATHS = ["/", FZ, FZ + "/d", FZ + "/f", FZ + "/l", FZ + "/new", FZ + "/d/" + MARK + "n"]
small = st.integers(0, 100).map(str)
times = st.sampled_from(["-1", "0", "1000", str(2**63 // 10**6), str(2**63 - 1)])
PLAUSIBLE: dict[str, st.SearchStrategy[str]] = {
    "offset": small, "length": small, "newlength": small | st.sampled_from([str(2**50), str(2**50 + 1)]),
    "blocksize": st.sampled_from(["4096", "1048576", "4194304", str(2**40)]), "replication": st.integers(1, 4).map(str),
    "permission": st.sampled_from(["755", "644", "1777", "0", "7777", "10000"]),
    "overwrite": st.sampled_from(["true", "false"]), "recursive": st.sampled_from(["true", "false"]),
    "parents": st.sampled_from(["true", "false"]), "createParent": st.sampled_from(["true", "false"]),
    "noredirect": st.sampled_from(["true", "false"]), "destination": st.sampled_from(FIXTURE_PATHS),
    "renameoptions": st.sampled_from(["NONE", "OVERWRITE"]), "modificationtime": times, "accesstime": times,
    "modificationtimens": times, "accesstimens": times, "owner": st.sampled_from(["root", "nobody", "daemon"]),
    "group": st.sampled_from(["root", "supergroup", "nogroup"]),
    "xattr.name": st.sampled_from(["user.a", "user.b", "trusted.c", "security.d", "system.e", "user."]),
    "xattr.value": st.sampled_from(["0x6869", "0sAAAA", '"x"', "plain"]),
    "flag": st.sampled_from(["CREATE", "REPLACE", "CREATE,REPLACE"]),
    "encoding": st.sampled_from(["text", "hex", "base64"]), "sources": st.sampled_from([FZ + "/f", FZ + "/new"]),
    "startAfter": st.sampled_from(["", "d", "f"]), "fsaction": st.sampled_from(["rwx", "r-x", "---"]),
    "blockid": st.integers(1, 2**20).map(lambda n: f"{n:016x}"), "kind": st.sampled_from(["file", "directory"]),
    "doas": st.sampled_from(["nobody", "root"]), "buffersize": small,
}


def params_strategy(max_size: int = 10) -> st.SearchStrategy[dict[str, str]]:
    """Query parameters: mostly WebHDFS names with mostly plausible values for each."""
    names = st.lists(mostly(st.sampled_from(PARAM_NAMES), text, odds=9), unique=True, max_size=max_size)
    return names.flatmap(
        lambda chosen: st.fixed_dictionaries({name: mostly(PLAUSIBLE.get(name, text), text) for name in chosen}))


def dumps(value: Any) -> bytes:
    """JSON as Python writes it: NaN and Infinity included, which a strict reader must refuse."""
    return json.dumps(value).encode()


def json_body(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[bytes]:
    """An object with any of ``fields`` (each of its own kind, or anything), or plain garbage."""
    shaped = st.fixed_dictionaries({k: mostly(v, json_values, odds=9) for k, v in fields.items()}) \
        if fields else json_values
    garbage = st.one_of(json_values.map(dumps), st.binary(max_size=64),
                        st.sampled_from([b"", b"{", b"[" * 3000 + b"]" * 3000, b'{"a": NaN}', b'{"blocks": 1e400}',
                                         b"\xff\xfe\x00", b'{"blocks": [' + b"[]," * 2000 + b"[]]}"]))
    return mostly(shaped.map(dumps), garbage, odds=3)


extent = st.fixed_dictionaries({}, optional={"blockId": st.none() | block_ids, "length": numbers,
                                             "checksum": checksums})
COMMIT_BODY = json_body({"blocks": st.lists(extent, max_size=4), "create": st.booleans(), "overwrite": st.booleans(),
                         "fileId": numbers, "permission": text, "replication": numbers, "blockSize": numbers,
                         "mtimeNs": numbers, "owner": text, "group": text})
BLOCK_LIST_BODY = json_body({"blocks": st.lists(block_ids, max_size=4)})
WEBHDFS_BODIES = {"COMMIT": COMMIT_BODY, "RENEWBLOCKS": BLOCK_LIST_BODY, "ABANDONBLOCKS": BLOCK_LIST_BODY}


# -- sending ----------------------------------------------------------------------------------------

@dataclass
class Answer:
    """One exchange, as an assertion message shows it."""

    method: str
    target: str
    status: int
    headers: dict[str, str]
    body: bytes

    def __repr__(self) -> str:
        return f"{self.method} {self.target[:300]!r} -> {self.status} {self.body[:300]!r}"


def send(node: Node, method: str, target: str, headers: dict[str, str] | None = None,
         body: bytes | None = None) -> Answer:
    """One request, byte for byte (no client-side normalising); at most 1 MiB of the answer is read."""
    try:
        status, answer_headers, content = send_raw(node.port, method, target, body, headers, timeout=TIMEOUT)
    except (socket.timeout, TimeoutError):
        pytest.fail(f"{node.name} did not answer {method} {target[:200]!r} within {TIMEOUT} s")
    return Answer(method, target, status, answer_headers, content)


def check_answer(answer: Answer) -> None:
    """A success, or a 4xx (or allowed 5xx) with a RemoteException body."""
    if answer.status < 400:
        return
    assert answer.status < 500 or answer.status in ALLOWED_5XX, answer
    if answer.method == "HEAD":
        return
    try:
        remote = json.loads(answer.body)["RemoteException"]
    except (ValueError, KeyError, TypeError):
        raise AssertionError(f"error body is not a RemoteException: {answer}") from None
    assert isinstance(remote, dict), answer
    for key in ("exception", "javaClassName", "message"):
        assert isinstance(remote.get(key), str) and remote[key], answer
    if answer.status >= 500:
        assert remote["exception"] == ALLOWED_5XX[answer.status], answer


def query(params: dict[str, str]) -> str:
    """A query string with every name and value percent-encoded (NUL and all)."""
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in params.items())


def assert_serving(*nodes: Node) -> None:
    for node in nodes:
        answer = send(node, "GET", "/ping_alive")
        assert answer.status == 200 and json.loads(answer.body) == {"alive": True}, (node, answer)


def internal_bodies(node_ids: list[str]) -> dict[str, st.SearchStrategy[bytes]]:
    """Bodies of the name node's ``/internal/`` calls, mostly from its real data nodes' ids."""
    ids = mostly(st.sampled_from(node_ids), text)
    urls = mostly(st.sampled_from(["http://127.0.0.1:1", "https://" + MARK + ".invalid"]),
                  st.sampled_from(["http://[::1", "http://[::1]:99999", "http://h:x", "ftp://a", "http://"]) | text)
    report_entry = st.lists(block_ids | numbers | checksums, max_size=4) | json_values
    received = st.fixed_dictionaries({"blockId": block_ids, "length": numbers, "checksum": checksums},
                                     optional={"holders": st.lists(ids, max_size=3) | json_values})
    return {
        "/internal/heartbeat": json_body({"id": ids, "url": urls, "public_url": urls, "capacity": numbers,
                                          "used": numbers, "remaining": numbers, "blocks": numbers}),
        "/internal/block_received": json_body({"id": ids, "blocks": st.lists(received, max_size=3)}),
        "/internal/block_report": json_body({"id": ids, "blocks": st.lists(report_entry, max_size=3)}),
        "/internal/bad_block": json_body({"id": ids, "blockId": block_ids, "reason": text}),
    }


def pipelines(cluster: Cluster, node: Node) -> st.SearchStrategy[str]:
    """``X-DFS-Pipeline`` values for a PUT to ``node``: mostly its real peers, some malformed or
    unreachable URLs (502 PipelineFailed, the documented retriable answer), and over-long lists."""
    peers = [other.url for other in cluster.datanodes if other is not node]
    odd = st.sampled_from([node.url, "http://127.0.0.1:1", "http://[::1", "http://[::1]:99999", "http://h:x",
                           "http://[zz]:1", "ftp://x", "http://" + MARK + ".invalid:1", "http://", ""])
    urls = mostly(st.sampled_from(peers), odd | text, odds=2)
    return mostly(st.lists(urls, max_size=3).map(",".join), text | st.just(",".join([node.url] * 33)))


def header_safe(value: str) -> bool:
    """What http.client will put on the wire (it refuses line breaks and non-latin-1 itself)."""
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return not any(c in value for c in "\r\n\0")


RAW_LINES = [b"GARBAGE", b"GET", b"GET /ping_alive", b"GET /ping_alive HTTP/9.9", b"GET /ping_alive HTTP/1.1 x",
             b"\x00\x01\x02 / HTTP/1.1", b"G\xffT /ping_alive HTTP/1.1", b"GET ping_alive HTTP/1.1",
             b"GET /" + b"a" * 9000 + b" HTTP/1.1", b"GET /ping_alive?" + b"%" * 100 + b" HTTP/1.1",
             b"PUT /webhdfs/v1/" + MARK.encode() + b"?op=MKDIRS&user.name=root HTTP/1.1",
             b"POST /webhdfs/v1/" + MARK.encode() + b"?op=COMMIT&user.name=root HTTP/1.1",
             b"PUT /blocks/00000000000000ab HTTP/1.1", b"POST /internal/heartbeat HTTP/1.1",
             b"GET /webhdfs/v1/\x00?op=OPEN HTTP/1.1", b"CONNECT 127.0.0.1:1 HTTP/1.1", b"PRI * HTTP/2.0"]
RAW_HEADERS = [b"Host: x", b"Content-Length: 12abc", b"Content-Length: -1", b"Content-Length: 99999999999999999999",
               b"Content-Length: 5", b"Content-Length: 5\r\nContent-Length: 6", b"Transfer-Encoding: chunked",
               b"Transfer-Encoding: gzip", b"Transfer-Encoding: chunked, gzip", b"Expect: 100-continue",
               b"Expect: odd", b"Bad Header: x", b"X-Big: " + b"a" * 9000, b"X-DFS-Checksum: zz",
               b"X-DFS-Pipeline: http://[::1", b"\x00: y", b" folded", b"Content-Type: application/json",
               b"Connection: close", b"Upgrade: h2c", b"Range: bytes=0-"]
RAW_BODIES = [b"", b"{}", b"0\r\n\r\n", b"zz\r\n{}\r\n0\r\n\r\n", b"2\r\n{}XX0\r\n\r\n", b"ffffffffffffffffff\r\n",
              b"5\r\nab", b"2;\x01=\r\n{}\r\n0\r\n\r\n", b"2\r\n{}\r\n0\r\nX-Trailer: " + b"t" * 9000 + b"\r\n\r\n",
              b'{"id": NaN}']


@st.composite
def raw_requests(draw: st.DrawFn) -> bytes:
    line = draw(st.sampled_from(RAW_LINES) | st.binary(max_size=40))
    headers = draw(st.lists(st.sampled_from(RAW_HEADERS) | st.binary(max_size=40), max_size=5))
    if draw(st.integers(0, 9)) == 0:
        headers += [b"X-Many-%d: y" % i for i in range(150)]
    body = draw(st.sampled_from(RAW_BODIES) | st.binary(max_size=64))
    return line + b"\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body


def exchange(node: Node, data: bytes) -> bytes:
    """Send ``data``, close our side, read until the node closes (within the timeout)."""
    with socket.create_connection(("127.0.0.1", node.port), timeout=TIMEOUT) as sock:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the node may close first on garbage
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
        except (socket.timeout, TimeoutError):
            pytest.fail(f"{node.name} kept the connection open {TIMEOUT} s after {data[:200]!r}")
    return received


def check_raw_answers(data: bytes, received: bytes) -> None:
    """Every response on the connection is a success or a JSON error (no HTML page, no 5xx)."""
    while received.startswith(b"HTTP/"):
        head, _, rest = received.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        if status == 100:
            body, received = b"", rest
        elif "content-length" in headers:
            length = int(headers["content-length"])
            body, received = rest[:length], rest[length:]
        else:
            body, received = rest, b""
        if status >= 400:
            check_answer(Answer("RAW", repr(data[:200]), status, headers,
                                b"" if data.startswith(b"HEAD ") else body))
            assert headers.get("content-type", "").startswith("application/json"), (status, headers, data[:200])
    assert received == b"" or received.startswith(b"HTTP/"), (data[:200], received[:200])
