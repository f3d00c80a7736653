"""One error hierarchy for every part of DFS.

Each class carries the three faces an error has: the HTTP status and WebHDFS exception name the
servers answer with, and the errno the FUSE driver and ``HttpNameNode`` turn it back into. The
translation happens in exactly three places: the WSGI apps (``to_remote_exception``), the FUSE
driver (``err.errno``) and the HTTP client (``from_remote_exception``).

Every class is also the matching built-in ``OSError`` subclass (``NotFound`` is a
``FileNotFoundError``), so Python code using ``HttpNameNode`` catches what it would catch locally.
"""
from __future__ import annotations

import errno as errno_codes
from typing import Any


class DFSError(OSError):
    """Base of every error DFS raises on purpose; anything else is a bug and answers 500."""

    status: int = 500
    errno_code: int = errno_codes.EIO
    exception: str = "IOException"
    java_package: str = "java.io"

    def __init__(self, message: str = "", **extra: Any) -> None:
        self.message = message or type(self).__name__
        super().__init__(type(self).errno_code, self.message)
        self.extra = extra

    @property
    def java_class_name(self) -> str:
        return f"{self.java_package}.{self.exception}"


class NotFound(DFSError, FileNotFoundError):
    status, errno_code, exception = 404, errno_codes.ENOENT, "FileNotFoundException"


class NotAFile(NotFound, IsADirectoryError):
    """Bytes asked of a directory (OPEN, checksums, block lists): HDFS's 404 "Path is not a
    file", EISDIR for the mount and Python (also an ``IsADirectoryError``)."""

    errno_code = errno_codes.EISDIR


class PastEndOfFile(DFSError):
    """A read that starts beyond the end of a file: HDFS's 403 "Cannot seek after EOF"."""

    status, errno_code, exception = 403, errno_codes.EINVAL, "EOFException"


class NoAttribute(DFSError):
    """The named extended attribute does not exist (ENODATA, what getxattr(2) answers)."""

    status, errno_code = 403, errno_codes.ENODATA


class AlreadyExists(DFSError, FileExistsError):
    status, errno_code, exception = 403, errno_codes.EEXIST, "FileAlreadyExistsException"
    java_package = "org.apache.hadoop.fs"


class AccessDenied(DFSError, PermissionError):
    """Permission bits say no (EACCES)."""

    status, errno_code, exception = 403, errno_codes.EACCES, "AccessControlException"
    java_package = "org.apache.hadoop.security"


class NotPermitted(AccessDenied):
    """Only the owner or the superuser may do this (EPERM), e.g. chown or chmod by another user."""

    errno_code = errno_codes.EPERM


class Unauthenticated(AccessDenied):
    """No valid credential: no token, an unknown, revoked or expired one, or a bad node signature.
    401, as WebHDFS answers a request that failed authentication."""

    status, exception = 401, "SecurityException"
    java_package = "java.lang"


class TooManyAttempts(Unauthenticated):
    """Too many failed authentications from one address: refused for a while without checking."""

    status = 429


class IllegalArgument(DFSError):
    status, errno_code, exception = 400, errno_codes.EINVAL, "IllegalArgumentException"
    java_package = "java.lang"


class NameTooLong(IllegalArgument):
    errno_code = errno_codes.ENAMETOOLONG


class TooLarge(IllegalArgument):
    """A body or value over a limit (a block larger than its block size)."""

    status, errno_code = 413, errno_codes.EFBIG


class ChecksumMismatch(IllegalArgument):
    """Bytes do not match the xxhash their writer sent; nothing was stored."""

    errno_code, exception = errno_codes.EIO, "ChecksumException"
    java_package = "org.apache.hadoop.fs"


class Unsupported(DFSError):
    status, errno_code, exception = 400, errno_codes.EOPNOTSUPP, "UnsupportedOperationException"
    java_package = "java.lang"


class MethodNotAllowed(Unsupported):
    """An endpoint asked with the wrong HTTP method (``PUT /status``)."""

    status = 405


class RangeNotSatisfiable(IllegalArgument):
    """A byte range that lies outside what is stored (a block read past its end)."""

    status = 416


class NotEmpty(DFSError):
    status, errno_code, exception = 403, errno_codes.ENOTEMPTY, "PathIsNotEmptyDirectoryException"
    java_package = "org.apache.hadoop.fs"


class NotADirectory(DFSError, NotADirectoryError):
    status, errno_code, exception = 403, errno_codes.ENOTDIR, "ParentNotDirectoryException"
    java_package = "org.apache.hadoop.fs"


class IsADirectory(DFSError, IsADirectoryError):
    status, errno_code, exception = 403, errno_codes.EISDIR, "PathIsDirectoryException"
    java_package = "org.apache.hadoop.fs"


class InvalidMove(IllegalArgument):
    """A rename POSIX forbids: a directory into itself, a directory over a file and so on."""


class ReadOnly(DFSError):
    status, errno_code, exception = 403, errno_codes.EROFS, "ReadOnlyFileSystemException"
    java_package = "java.nio.file"


class SnapshotReadOnly(ReadOnly):
    """A change asked of a path under ``<dir>/.snapshot/`` (HDFS's 403 "Modification on a
    read-only snapshot is disallowed"); EROFS through the mount."""

    exception = "SnapshotAccessControlException"
    java_package = "org.apache.hadoop.hdfs.protocol"


class SnapshotError(DFSError):
    """A snapshot operation the directory's state refuses: not snapshottable, a taken or missing
    snapshot name, snapshots left (HDFS's 403 SnapshotException)."""

    status, errno_code, exception = 403, errno_codes.EINVAL, "SnapshotException"
    java_package = "org.apache.hadoop.hdfs.protocol"


class AclDisabled(DFSError):
    """An ACL change: DFS has permission bits only, and answers as an HDFS with
    ``dfs.namenode.acls.enabled=false`` does (403 AclException; EOPNOTSUPP through the mount)."""

    status, errno_code, exception = 403, errno_codes.EOPNOTSUPP, "AclException"
    java_package = "org.apache.hadoop.hdfs.protocol"


class NoSpace(DFSError):
    """No data node can take the block (full disks, or fewer live nodes than needed)."""

    status, errno_code, exception = 507, errno_codes.ENOSPC, "DiskOutOfSpaceException"
    java_package = "org.apache.hadoop.util"


class Conflict(DFSError):
    """The file changed under a writer (its inode is gone or replaced); retry from the start."""

    status, errno_code, exception = 409, errno_codes.ESTALE, "ConcurrentModificationException"
    java_package = "java.util"


class WrongState(DFSError):
    """What the target's state does not allow now (a buffer frozen below its threshold, or
    released before it was frozen); retry once the state has changed."""

    status, errno_code, exception = 409, errno_codes.EAGAIN, "IllegalStateException"
    java_package = "java.lang"


class Unavailable(DFSError):
    """A node could not be reached or answered garbage; the caller may retry elsewhere."""

    status, errno_code, exception = 503, errno_codes.EIO, "RetriableException"
    java_package = "org.apache.hadoop.ipc"


class SafeMode(DFSError):
    """The name node is in safe mode: it serves reads, refuses changes (HDFS's SafeModeException).
    ``extra['automatic']``: True while it waits for block reports (it ends by itself; clients wait
    and retry), False when an operator entered it."""

    status, errno_code, exception = 503, errno_codes.EROFS, "SafeModeException"
    java_package = "org.apache.hadoop.hdfs.server.namenode"


class PipelineFailed(Unavailable):
    """A data node downstream in a write pipeline failed; ``extra['failed']`` names its URL."""

    status = 502


class DecryptionFailed(DFSError):
    """Client-side encryption: bytes that do not authenticate under the key (altered, moved, cut,
    or never encrypted). Raised by the client only, instead of ever answering wrong plaintext."""


class WrongKey(DecryptionFailed, PermissionError):
    """Client-side encryption: the file was encrypted with another key (EACCES)."""

    errno_code = errno_codes.EACCES


_BY_EXCEPTION: dict[str, type[DFSError]] = {}
for _cls in (NotFound, AlreadyExists, AccessDenied, IllegalArgument, ChecksumMismatch,
             Unsupported, NotEmpty, NotADirectory, IsADirectory, ReadOnly, NoSpace, Conflict,
             WrongState, Unavailable, SafeMode, PastEndOfFile, SnapshotReadOnly, SnapshotError,
             AclDisabled):
    _BY_EXCEPTION[_cls.exception] = _cls
_BY_EXCEPTION["SecurityException"] = Unauthenticated
_BY_EXCEPTION["ParentNotDirectoryException"] = NotADirectory
_BY_EXCEPTION["PathIsNotDirectoryException"] = NotADirectory
_BY_EXCEPTION["StandbyException"] = Unavailable

# errno values that share an exception name with another class are told apart by this extra field.
_BY_ERRNO: dict[int, type[DFSError]] = {
    errno_codes.EPERM: NotPermitted,
    errno_codes.ENAMETOOLONG: NameTooLong,
    errno_codes.EFBIG: TooLarge,
    errno_codes.EINVAL: IllegalArgument,
    errno_codes.ENODATA: NoAttribute,
    errno_codes.EISDIR: NotAFile,
}


def to_remote_exception(error: DFSError) -> dict[str, Any]:
    """The WebHDFS RemoteException body for ``error``; ``errno`` is our extension field."""
    body: dict[str, Any] = {
        "exception": error.exception,
        "javaClassName": error.java_class_name,
        "message": error.message,
        "errno": errno_codes.errorcode.get(error.errno_code, "EIO"),
    }
    body.update(error.extra)
    return {"RemoteException": body}


def from_remote_exception(status: int, body: Any) -> DFSError:
    """Rebuild the DFSError a server answered with (any server speaking WebHDFS errors)."""
    remote = body.get("RemoteException") if isinstance(body, dict) else None
    if not isinstance(remote, dict):
        cls = {404: NotFound, 400: IllegalArgument, 401: Unauthenticated, 403: AccessDenied, 429: TooManyAttempts,
               507: NoSpace}.get(status, Unavailable)
        return cls(f"HTTP {status}")
    cls = _BY_EXCEPTION.get(str(remote.get("exception")), DFSError)
    code = getattr(errno_codes, str(remote.get("errno", "")), None)
    if code in _BY_ERRNO and issubclass(_BY_ERRNO[code], cls):
        cls = _BY_ERRNO[code]
    if status == 429 and cls is Unauthenticated:
        cls = TooManyAttempts
    if status == 502 and cls is Unavailable:
        cls = PipelineFailed
    extra = {k: v for k, v in remote.items() if k not in ("exception", "javaClassName", "message", "errno")}
    return cls(str(remote.get("message", "")), **extra)
