"""Where the cluster is: ``--namenode URL``, else ``DFS_NAMENODE_URL``, else the config file's
``namenode`` key, else ``http://127.0.0.1:8180``; the user likewise (``--user``, ``DFS_USER``,
the file's ``user``, the login name), and the token (``--token``, ``DFS_TOKEN``, ``token``)."""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from typing import Any

from dfs_common.settings import ClientSettings

DEFAULT_URL = "http://127.0.0.1:8180"


class CliError(Exception):
    """A one-line reason a command cannot run, printed as ``dfs: <reason>`` with exit 1."""


@dataclass(frozen=True)
class Target:
    url: str
    user: str | None
    token: str | None = None
    tls_ca: str | None = None  # DFS_TLS_CA: what an https name node's certificate is verified with
    site: str = ""  # DFS_CLIENT_SITE: reads prefer replicas there


def read_config(path: str) -> dict[str, Any]:
    """The config file's table (empty when it does not exist); a broken one is a CliError."""
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise CliError(f"config file {path}: {error}") from None
    for key in ("namenode", "user", "token"):
        if key in data and not isinstance(data[key], str):
            raise CliError(f"config file {path}: {key!r} must be a string")
    return data


def resolve(namenode: str | None, user: str | None, environ: dict[str, str] | None = None,
            token: str | None = None) -> Target:
    settings = ClientSettings.from_env(os.environ if environ is None else environ)
    config = read_config(settings.config_file)
    url = namenode or settings.namenode_url or config.get("namenode") or DEFAULT_URL
    if "://" not in url:
        url = "http://" + url
    return Target(url.rstrip("/"), user or settings.user or config.get("user"),
                  token or settings.token or config.get("token"), settings.tls_ca, settings.site)
