"""How an inode looks on the wire: WebHDFS FileStatus JSON with our extension fields."""
from __future__ import annotations

from dfs_common.filestatus import FileStatus, FileType

from .namespace import SPECIAL_NAMES
from .store import BLOCK, CHAR, DIR, FIFO, LINK, SOCKET, SPECIAL_KINDS, Inode

# A special file is ``type: FILE`` (of length 0) for WebHDFS clients, which know only these three
# types (Hadoop's JsonUtil and HdfsCLI reject or mis-handle any other), plus the extension fields
# ``kind`` and ``rdev`` that the mount reads.
_TYPES: dict[str, FileType] = {"f": "FILE", "d": "DIRECTORY", "l": "SYMLINK", FIFO: "FILE", CHAR: "FILE", BLOCK: "FILE",
          SOCKET: "FILE"}
SPECIAL_KIND_OF: dict[str, str] = {name: kind for kind, name in SPECIAL_NAMES.items()}


def file_status(name: str, ino: int, inode: Inode) -> FileStatus:
    """WebHDFS FileStatus with our extension fields (ns times, nlink, 12-bit permission)."""
    is_dir = inode.kind == DIR
    status: FileStatus = {
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
