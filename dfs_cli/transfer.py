"""``dfs put`` and ``dfs get``: files and whole trees, several files at a time, one byte bar.

Uploads stream each file through ``HttpNameNode.open(..., "wb")`` (blocks written through their
pipelines as they fill, the file committed at close: a cut-off upload leaves the old file or none).
Downloads write ``NAME.dfs-part`` and rename it when complete, so a partial file never carries
the final name; ``--continue`` resumes a ``.dfs-part`` left by an interrupted ``get`` from its
length (reads are ranged; an upload has nothing to resume: a file is replaced whole at commit).
"""
from __future__ import annotations

import os
import posixpath
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from dfs_common.errors import AlreadyExists, NotFound
from dfs_common.filestatus import FileStatus
from dfs_common.paths import normalize

from .config import CliError
from .progress import Progress

CHUNK = 4 * 1024 * 1024  # one default block per write: whole blocks go to the pipeline at once
PART = ".dfs-part"


@dataclass(frozen=True)
class Job:
    source: str
    target: str
    size: int


def _remote_kind(nn: Any, path: str) -> str | None:
    try:
        return str(nn.get_status(path)["type"])
    except NotFound:
        return None


def _run(jobs: list[Job], parallel: int, work: Callable[[Job, Progress], None], progress: Progress) -> int:
    """Run jobs on ``parallel`` threads; the first failure cancels what has not started."""
    with ThreadPoolExecutor(max(1, parallel), thread_name_prefix="dfs-transfer") as pool:
        futures: list[Future[None]] = [pool.submit(work, job, progress) for job in jobs]
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for future in pending:
            future.cancel()
        for future in futures:
            if future.done() and not future.cancelled() and future.exception() is not None:
                raise future.exception()  # type: ignore[misc]
    return sum(job.size for job in jobs)


# -- put --------------------------------------------------------------------------------------

def plan_put(nn: Any, sources: list[str], dest: str, recursive: bool) -> tuple[list[str], list[Job]]:
    """(remote directories to make, files to upload) for ``put SOURCES DEST``."""
    dest = normalize(dest)
    into = len(sources) > 1 or _remote_kind(nn, dest) == "DIRECTORY"
    if len(sources) > 1 and not into:
        raise CliError(f"{dest}: not a directory (several sources need an existing directory)")
    directories: list[str] = []
    jobs: list[Job] = []
    for source in sources:
        local = source.rstrip("/") or "/"
        name = os.path.basename(os.path.abspath(local))
        target = posixpath.join(dest, name) if into else dest
        if os.path.isdir(local):
            if not recursive:
                raise CliError(f"{source}: is a directory (use put -r)")
            for root, dirs, files in os.walk(local):
                dirs.sort()
                relative = os.path.relpath(root, local)
                remote_root = target if relative == "." else posixpath.join(target, *relative.split(os.sep))
                directories.append(remote_root)
                for file in sorted(files):
                    path = os.path.join(root, file)
                    jobs.append(Job(path, posixpath.join(remote_root, file), os.path.getsize(path)))
        elif os.path.exists(local):
            jobs.append(Job(local, target, os.path.getsize(local)))
        else:
            raise CliError(f"{source}: No such file or directory")
    return directories, jobs


def put(nn: Any, sources: list[str], dest: str, *, recursive: bool, parallel: int, force: bool,
        show: bool) -> int:
    directories, jobs = plan_put(nn, sources, dest, recursive)
    for directory in directories:
        nn.mkdirs(directory)
    total = sum(job.size for job in jobs)

    def upload(job: Job, progress: Progress) -> None:
        mode = os.stat(job.source).st_mode & 0o777
        try:
            with open(job.source, "rb") as local, \
                    nn.open(job.target, "wb", permission=mode, overwrite=force) as remote:
                while chunk := local.read(CHUNK):
                    remote.write(chunk)
                    progress.update(len(chunk))
        except AlreadyExists:
            raise CliError(f"{job.target}: File exists (use put -f to replace it)") from None

    with Progress(total, "B", "put", show) as progress:
        return _run(jobs, parallel, upload, progress)


# -- get --------------------------------------------------------------------------------------

def _walk(nn: Any, root: str) -> Iterator[tuple[str, FileStatus]]:
    """(path, FileStatus) of everything under a remote directory, parents first."""
    stack = [root]
    while stack:
        directory = stack.pop()
        for status in nn.list_status(directory):
            path = posixpath.join(directory, status["pathSuffix"])
            yield path, status
            if status["type"] == "DIRECTORY":
                stack.append(path)


def plan_get(nn: Any, sources: list[str], dest: str, recursive: bool) -> tuple[list[str], list[Job]]:
    into = len(sources) > 1 or os.path.isdir(dest)
    if len(sources) > 1 and not into:
        raise CliError(f"{dest}: not a directory (several sources need an existing directory)")
    directories: list[str] = []
    jobs: list[Job] = []
    for source in sources:
        remote = normalize(source)
        status = nn.get_status(remote)
        name = posixpath.basename(remote) or "root"
        target = os.path.join(dest, name) if into else dest
        if status["type"] == "DIRECTORY":
            if not recursive:
                raise CliError(f"{source}: is a directory (use get -r)")
            directories.append(target)
            for path, child in _walk(nn, remote):
                local = os.path.join(target, *posixpath.relpath(path, remote).split("/"))
                if child["type"] == "DIRECTORY":
                    directories.append(local)
                elif child["type"] == "FILE":
                    jobs.append(Job(path, local, int(child["length"])))
        elif status["type"] == "FILE":
            jobs.append(Job(remote, target, int(status["length"])))
        else:
            raise CliError(f"{source}: not a regular file or directory ({status['type'].lower()})")
    return directories, jobs


def get(nn: Any, sources: list[str], dest: str, *, recursive: bool, parallel: int, resume: bool,
        force: bool, show: bool) -> int:
    directories, jobs = plan_get(nn, sources, dest, recursive)
    for job in jobs:
        if os.path.exists(job.target) and not force:
            raise CliError(f"{job.target}: File exists (use get -f to replace it)")
    for directory in directories:
        os.makedirs(directory, exist_ok=True)
    total = sum(job.size for job in jobs)

    def download(job: Job, progress: Progress) -> None:
        part = job.target + PART
        offset = os.path.getsize(part) if resume and os.path.exists(part) else 0
        if offset > job.size:
            offset = 0  # not a prefix of this file: start over
        with nn.open(job.source, "rb") as remote, open(part, "r+b" if offset else "wb") as local:
            if offset:
                local.seek(offset)
                local.truncate()
                remote.seek(offset)
                progress.update(offset)
            while chunk := remote.read(CHUNK):
                local.write(chunk)
                progress.update(len(chunk))
        os.replace(part, job.target)

    with Progress(total, "B", "get", show) as progress:
        return _run(jobs, parallel, download, progress)
