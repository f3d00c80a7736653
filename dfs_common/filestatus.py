"""The FileStatus record: what the name node answers for a path, and what every client reads.

A ``TypedDict`` rather than a class because it *is* the WebHDFS JSON object (Hadoop's field names,
our extension fields beside them): the server builds it, ``HttpNameNode`` hands it on unchanged,
and the types say which fields exist and what they hold.
"""
from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

FileType = Literal["FILE", "DIRECTORY", "SYMLINK"]
SpecialKind = Literal["FIFO", "CHAR", "BLOCK", "SOCKET"]


class FileStatus(TypedDict):
    """One path's status: Hadoop's fields, then ours (ns times, link count, special files)."""

    accessTime: int  # ms since the epoch
    blockSize: int
    childrenNum: int
    fileId: int
    group: str
    length: int
    modificationTime: int  # ms since the epoch
    owner: str
    pathSuffix: str  # the entry's name in a listing, "" for GETFILESTATUS
    permission: str  # octal text, 12 bits ("1777")
    replication: int
    storagePolicy: int
    type: FileType
    nlink: int
    accessTimeNs: int
    modificationTimeNs: int
    changeTimeNs: int
    symlink: NotRequired[str]  # a SYMLINK's target
    kind: NotRequired[SpecialKind]  # a special file (type FILE, length 0)
    rdev: NotRequired[int]  # a device's number
    ecPolicy: NotRequired[str]  # an erasure-coded file's policy ("RS-6-3-1024k"), as HDFS names it
    encryptedLength: NotRequired[int]  # client-side encryption: the stored (ciphertext) length
