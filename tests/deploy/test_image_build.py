"""What the Dockerfile's build stage does, without Docker: the build context (the repository less
.dockerignore) must make a wheel holding every module the image runs (`python -m server`,
`python -m dfs`), since the runtime stage has nothing but that installed environment."""
from __future__ import annotations

import fnmatch
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from .conftest import REPO, run


def ignore_patterns() -> list[str]:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    return [line.strip().rstrip("/") for line in lines if line.strip() and not line.strip().startswith("#")]


def ignored(relative: str, patterns: list[str]) -> bool:
    for pattern in patterns:
        if pattern.startswith("**/"):
            if any(fnmatch.fnmatch(part, pattern[3:]) for part in relative.split("/")):
                return True
        elif fnmatch.fnmatch(relative, pattern) or relative.startswith(pattern + "/"):
            return True
    return False


def build_context(destination: Path) -> Path:
    """The files `docker build .` would send, copied (only tracked or untracked-but-not-ignored by git)."""
    patterns = ignore_patterns()
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.splitlines()
    for relative in listed:
        source = REPO / relative
        if not source.is_file() or ignored(relative, patterns):
            continue
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    return destination


def test_build_context_makes_a_complete_wheel(tmp_path: Path) -> None:
    context = build_context(tmp_path / "context")
    assert (context / "docker" / "entrypoint.sh").is_file()
    assert not (context / "tests").exists() and not (context / ".git").exists()
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
         "--wheel-dir", str(tmp_path / "wheels"), str(context)])
    (wheel,) = (tmp_path / "wheels").glob("dfs-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"server.py", "dfs.py"} <= names
    # every package of the repository (outside tests and benchmarks) is in the image
    packages = sorted(str(p.parent.relative_to(REPO)) for p in REPO.glob("**/__init__.py")
                      if p.relative_to(REPO).parts[0] not in ("tests", "bench", "build", ".venv")
                      and not any(part.startswith(".") for part in p.relative_to(REPO).parts))
    assert packages, "no packages found"
    for package in packages:
        assert f"{package}/__init__.py" in names, f"{package} is missing from the wheel (pyproject.toml packages)"
