"""Which root ``DFS_FS_ROOT`` names, and the Lustre striping decision as a unit: the exact ``lfs``
command it runs, and what it does without the tool (the POSIX store itself runs the contract)."""
from __future__ import annotations

import logging
import subprocess
from pathlib import Path
from typing import Any

import pytest

from data_node.roots import lustre, open_root, root_kind
from data_node.roots.local import LocalRoot
from data_node.roots.lustre import LL_SUPER_MAGIC, LustreRoot, setstripe_command
from dfs_common.errors import Unsupported
from dfs_common.settings import ConfigError, Settings


def test_plain_paths_and_file_urls_are_local_and_unknown_schemes_refused(tmp_path: Path) -> None:
    assert type(open_root(str(tmp_path / "a"))) is LocalRoot
    assert open_root(f"file://{tmp_path}/b").path == f"{tmp_path}/b"
    assert root_kind(open_root(str(tmp_path / "c"))) == "local"
    with pytest.raises(Unsupported):
        open_root("gopher://nowhere/x")


def test_a_lustre_url_is_a_lustre_root_on_that_path(tmp_path: Path) -> None:
    root = open_root(f"lustre://{tmp_path}/scratch")
    assert isinstance(root, LustreRoot) and root.path == f"{tmp_path}/scratch"
    assert root.url == f"lustre://{tmp_path}/scratch" and root_kind(root) == "lustre"
    assert root.striping == "default"


def test_a_plain_path_on_a_filesystem_with_lustres_magic_is_a_lustre_root(tmp_path: Path, monkeypatch: Any) -> None:
    seen = []

    def magic(path: str) -> int:
        seen.append(path)
        return LL_SUPER_MAGIC

    monkeypatch.setattr(lustre, "filesystem_magic", magic)
    assert isinstance(open_root(str(tmp_path / "not" / "yet")), LustreRoot)
    assert seen[0] == str(tmp_path)  # the nearest existing directory is asked
    monkeypatch.setattr(lustre, "filesystem_magic", lambda path: 0xEF53)  # ext4
    assert type(open_root(str(tmp_path / "other"))) is LocalRoot


def test_the_magic_number_is_read_from_statfs() -> None:
    magic = lustre.filesystem_magic("/")
    assert isinstance(magic, int) and magic not in (0, LL_SUPER_MAGIC)
    assert lustre.filesystem_magic("/no/such/path/here") is None


@pytest.mark.parametrize(("count", "size", "command"), [
    (4, 1 << 20, ["lfs", "setstripe", "--stripe-count", "4", "--stripe-size", "1048576", "/l/blocks"]),
    (-1, 0, ["lfs", "setstripe", "--stripe-count", "-1", "/l/blocks"]),
    (0, 4 << 20, ["lfs", "setstripe", "--stripe-size", "4194304", "/l/blocks"]),
    (0, 0, None),
])
def test_the_setstripe_command_for_each_hint(count: int, size: int, command: list[str] | None) -> None:
    assert setstripe_command("/l/blocks", count, size) == command


def test_hints_are_applied_with_lfs_on_the_blocks_directory(tmp_path: Path, monkeypatch: Any) -> None:
    ran: list[list[str]] = []

    def run(command: list[str], **options: Any) -> subprocess.CompletedProcess[str]:
        ran.append(command)
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(lustre.subprocess, "run", run)
    root = LustreRoot(str(tmp_path), stripe_count=8, stripe_size=1 << 20, which=lambda name: "/usr/bin/lfs")
    assert ran == [["lfs", "setstripe", "--stripe-count", "8", "--stripe-size", "1048576", str(tmp_path / "blocks")]]
    assert root.striping == "applied"


def test_without_lfs_the_hints_are_logged_and_the_root_still_works(tmp_path: Path, monkeypatch: Any,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(lustre.subprocess, "run", lambda *a, **k: pytest.fail("no lfs, nothing to run"))
    settings = Settings(lustre_stripe_count=2, lustre_stripe_size=1 << 20)
    with caplog.at_level(logging.WARNING, logger="dfs.data_node.roots.lustre"):
        root = LustreRoot(str(tmp_path), settings.lustre_stripe_count, settings.lustre_stripe_size,
                          which=lambda name: None)
    assert root.striping == "no lfs"
    assert "not applied: the lfs tool is not installed" in caplog.text
    assert "--stripe-count 2 --stripe-size 1048576" in caplog.text


def test_a_failing_lfs_is_logged_not_fatal(tmp_path: Path, monkeypatch: Any, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(lustre.subprocess, "run", lambda command, **k: subprocess.CompletedProcess(
        command, 22, "", "error: setstripe: invalid stripe size"))
    with caplog.at_level(logging.WARNING, logger="dfs.data_node.roots.lustre"):
        root = LustreRoot(str(tmp_path), stripe_size=12345, which=lambda name: "/usr/bin/lfs")
    assert root.striping == "failed" and "invalid stripe size" in caplog.text


def test_the_hints_come_from_the_environment() -> None:
    settings = Settings.from_env({"DFS_NODE_CLASS": "data_node.DataNode", "DFS_LUSTRE_STRIPE_COUNT": "4",
                                  "DFS_LUSTRE_STRIPE_SIZE": "1048576", "DFS_S3_QUOTA": "1000"})
    assert (settings.lustre_stripe_count, settings.lustre_stripe_size, settings.s3_quota) == (4, 1 << 20, 1000)
    with pytest.raises(ConfigError, match="DFS_LUSTRE_STRIPE_COUNT"):
        Settings.from_env({"DFS_LUSTRE_STRIPE_COUNT": "-2"})
    with pytest.raises(ConfigError, match="DFS_S3_QUOTA"):
        Settings.from_env({"DFS_S3_QUOTA": "-1"})
