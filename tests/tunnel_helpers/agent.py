"""Test-side handle on the stand-in ngrok agent (fake_ngrok.py), and a secret scanner for files."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path

import psutil

FAKE_NGROK = Path(__file__).with_name("fake_ngrok.py")


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class FakeNgrok:
    """An executable ``ngrok`` in ``folder`` that runs fake_ngrok.py, and the events it records.

    The events file is named by ``$FAKE_NGROK_EVENTS``, which the agent inherits from whoever
    spawns it (pyngrok, in this process or in a child).
    """

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / "ngrok"
        self.path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_NGROK}" "$@"\n')
        self.path.chmod(0o755)
        self.config_path = folder / "ngrok.yml"
        self.events_path = folder / "events.jsonl"

    def config(self, **kwargs):
        from pyngrok.conf import PyngrokConfig

        return PyngrokConfig(ngrok_path=str(self.path), config_path=str(self.config_path), **kwargs)

    def events(self, kind: str | None = None) -> list[dict]:
        if not self.events_path.is_file():
            return []
        lines = self.events_path.read_text().splitlines()
        events = [json.loads(line) for line in lines if line.strip()]
        return [e for e in events if kind is None or e["event"] == kind]

    def wait_for(self, kind: str, timeout: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.events(kind)
            if found:
                return found
            time.sleep(0.05)
        raise AssertionError(f"no {kind!r} event from the fake agent; got {self.events()}")


def gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


_SKIP_DIRS = {".git", ".venv", ".venv311", "node_modules", "__pycache__", ".ruff_cache"}


def files_containing(secrets: list[str], roots: list[Path], since: float) -> list[str]:
    """Files under ``roots`` modified at or after ``since`` whose bytes contain any secret."""
    needles = [s.encode() for s in secrets]
    hits = []
    for root in roots:
        if not root.is_dir():
            continue
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if d not in _SKIP_DIRS and not d.startswith(".venv")]
            for name in files:
                path = os.path.join(folder, name)
                try:
                    if os.path.getmtime(path) < since or os.path.getsize(path) > 50_000_000:
                        continue
                    with open(path, "rb") as f:
                        data = f.read()
                except OSError:
                    continue
                if any(n in data for n in needles):
                    hits.append(path)
    return hits
