"""How inodes and attributes look on the wire: FileStatus JSON and WebHDFS xattr value codecs."""
from __future__ import annotations

import base64
import binascii
from typing import Any

from dfs_common.errors import IllegalArgument

from .store import BLOCK, CHAR, DIR, FIFO, LINK, SOCKET, SPECIAL_KINDS, Inode

# A special file is ``type: FILE`` (of length 0) for WebHDFS clients, which know only these three
# types (Hadoop's JsonUtil and HdfsCLI reject or mis-handle any other), plus the extension fields
# ``kind`` and ``rdev`` that the mount reads.
_TYPES = {"f": "FILE", "d": "DIRECTORY", "l": "SYMLINK", FIFO: "FILE", CHAR: "FILE", BLOCK: "FILE",
          SOCKET: "FILE"}
SPECIAL_NAMES = {FIFO: "FIFO", CHAR: "CHAR", BLOCK: "BLOCK", SOCKET: "SOCKET"}
SPECIAL_KIND_OF = {name: kind for kind, name in SPECIAL_NAMES.items()}
XATTR_NAMESPACES = ("user.", "trusted.", "system.", "security.", "raw.")
MAX_XATTR_SIZE = 16384  # HDFS's dfs.namenode.fs-limits.max-xattr-size default


def file_status(name: str, ino: int, inode: Inode) -> dict[str, Any]:
    """WebHDFS FileStatus with our extension fields (ns times, nlink, 12-bit permission)."""
    is_dir = inode.kind == DIR
    status: dict[str, Any] = {
        "accessTime": inode.atime // 1_000_000,
        "blockSize": 0 if is_dir else inode.block_size,
        "childrenNum": inode.children if is_dir else 0,
        "fileId": ino,
        "group": inode.group,
        "length": 0 if is_dir else inode.size,
        "modificationTime": inode.mtime // 1_000_000,
        "owner": inode.owner,
        "pathSuffix": name,
        "permission": format(inode.mode & 0o7777, "o"),
        "replication": 0 if is_dir else inode.replication,
        "storagePolicy": 0,
        "type": _TYPES[inode.kind],
        "nlink": inode.nlink,
        "accessTimeNs": inode.atime,
        "modificationTimeNs": inode.mtime,
        "changeTimeNs": inode.ctime,
    }
    if inode.kind == LINK:
        status["symlink"] = inode.target
    elif inode.kind in SPECIAL_KINDS:
        status["kind"] = SPECIAL_NAMES[inode.kind]
        status["rdev"] = inode.rdev
    return status


def check_xattr_name(name: str | None) -> str:
    """A namespaced name (``user.x``); the namespace prefix is case-insensitive as in HDFS."""
    if not name:
        raise IllegalArgument('Missing webhdfs parameter "xattr.name"')
    lowered = name.lower()
    for prefix in XATTR_NAMESPACES:
        if lowered.startswith(prefix) and len(name) > len(prefix):
            name = prefix + name[len(prefix):]
            if len(name.encode()) > 255:
                raise IllegalArgument("XAttr name is too long")
            return name
    raise IllegalArgument(f"XAttr name must be prefixed with user/trusted/security/system/raw, "
                          f"followed by a '.': {name[:60]!r}")


def decode_xattr_value(text: str | None) -> bytes:
    """WebHDFS value spelling: ``0x`` hex, ``0s`` base64, ``"quoted"`` or bare text."""
    if text is None:
        return b""
    try:
        if len(text) >= 2 and text[:2].lower() == "0x":
            value = bytes.fromhex(text[2:])
        elif len(text) >= 2 and text[:2].lower() == "0s":
            value = base64.b64decode(text[2:], validate=True)
        elif len(text) >= 2 and text[0] == text[-1] == '"':
            value = text[1:-1].encode()
        else:
            value = text.encode()
    except (ValueError, binascii.Error):
        raise IllegalArgument(f"Invalid xattr.value: {text[:40]!r}") from None
    if len(value) > MAX_XATTR_SIZE:
        raise IllegalArgument(f"XAttr value is larger than {MAX_XATTR_SIZE} bytes")
    return value


def encode_xattr_value(value: bytes, encoding: str | None) -> str:
    kind = (encoding or "text").lower()
    if kind == "hex":
        return "0x" + value.hex()
    if kind == "base64":
        return "0s" + base64.b64encode(value).decode()
    if kind != "text":
        raise IllegalArgument(f'Invalid value for webhdfs parameter "encoding": {encoding[:20]!r}')  # type: ignore[index]
    try:
        return '"' + value.decode() + '"'
    except UnicodeDecodeError:
        return "0s" + base64.b64encode(value).decode()  # not text: base64 keeps it lossless
