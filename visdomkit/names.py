"""Names: the server URL, safe env names, window ids and titles, the run folder."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

DEFAULT_SERVER = "http://127.0.0.1:8097"
TITLE_MAX = 80
_ENV_MAX = 200  # visdom saves an env as ENV.json; keep well under the 255-byte name limit


def resolve_server(server: Any = None) -> str:
    """A server URL from a URL string, a :class:`~visdomkit.VisdomServer`, or ``None``.

    ``None`` reads ``$VISDOMKIT_SERVER`` and falls back to ``http://127.0.0.1:8097``.

    Example:
        >>> resolve_server("http://localhost:8097/")
        'http://localhost:8097'
    """
    if server is None:
        server = os.environ.get("VISDOMKIT_SERVER", DEFAULT_SERVER)
    url = getattr(server, "url", server)
    if not isinstance(url, str) or not re.match(r"^https?://[^/]+", url):
        raise ValueError(
            f"server must be a URL like 'http://127.0.0.1:8097' or a VisdomServer, got {server!r}"
        )
    return url.rstrip("/")


def validate_env(env: Any) -> str:
    """``env`` if it is a safe Visdom env name, else ``ValueError`` naming the problem.

    Visdom stores an env as ``ENV.json`` in its env folder, so names that could point outside it
    (``..``, path separators, absolute paths, drive letters) or that a file system cannot hold are
    refused.

    Example:
        >>> validate_env("mnist_run-1")
        'mnist_run-1'
        >>> validate_env("../etc")
        Traceback (most recent call last):
        ...
        ValueError: env must not contain '/' or '\\\\' (path separators), got '../etc'
    """
    if not isinstance(env, str) or not env.strip():
        raise ValueError(f"env must be a non-empty string, got {env!r}")
    if "/" in env or "\\" in env:
        raise ValueError(f"env must not contain '/' or '\\\\' (path separators), got {env!r}")
    if env.strip() in (".", "..") or env.startswith(".."):
        raise ValueError(f"env must not be '.' or start with '..', got {env!r}")
    if re.match(r"^[A-Za-z]:", env) or env.startswith("~"):
        raise ValueError(f"env must not look like a path (drive letter or '~'), got {env!r}")
    if any(ord(c) < 32 or ord(c) == 127 for c in env):
        raise ValueError(f"env must not contain control characters, got {env!r}")
    if len(env.encode("utf-8")) > _ENV_MAX:
        raise ValueError(f"env must be at most {_ENV_MAX} bytes in UTF-8, got {len(env)} chars")
    return env


def window_id(name: str) -> str:
    """A stable, collision-free Visdom window id for a metric name.

    Readable ASCII from the name plus 8 hex digits of its SHA-1, so ``"a/b"`` and ``"a b"`` differ.

    Example:
        >>> window_id("train/loss")
        'train_loss-fe909792'
    """
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:60]
    digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]
    return f"{slug}-{digest}"


def display_title(name: str) -> str:
    """A pane title: the name itself, or its start and end around '…' when very long."""
    if len(name) <= TITLE_MAX:
        return name
    return name[:50] + "…" + name[-(TITLE_MAX - 51) :]


def default_run_dir(env: str) -> Path:
    """Where a transport keeps its journal unless told: ``$VISDOMKIT_RUN_DIR/ENV``, by default
    ``~/.visdomkit/runs/ENV``."""
    root = os.environ.get("VISDOMKIT_RUN_DIR") or Path.home() / ".visdomkit" / "runs"
    return Path(root).expanduser() / env
