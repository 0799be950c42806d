"""Shared fixtures: one real Visdom server for the whole test run."""

from __future__ import annotations

import os
import uuid

import pytest
import visdom

from visdomkit.server import VisdomServer


@pytest.fixture(scope="session", autouse=True)
def _private_run_dir(tmp_path_factory):
    """Journals of transports that get no run_dir go to a temp folder, not ~/.visdomkit."""
    previous = os.environ.get("VISDOMKIT_RUN_DIR")
    os.environ["VISDOMKIT_RUN_DIR"] = str(tmp_path_factory.mktemp("runs"))
    yield
    if previous is None:
        os.environ.pop("VISDOMKIT_RUN_DIR", None)
    else:
        os.environ["VISDOMKIT_RUN_DIR"] = previous


@pytest.fixture(scope="session")
def visdom_server(tmp_path_factory):
    """A real Visdom server (our VisdomServer) shared by every test in the run."""
    env_path = tmp_path_factory.mktemp("visdom-envs")
    with VisdomServer(env_path=env_path) as server:
        yield server


@pytest.fixture
def env_name(request) -> str:
    """A fresh, unique Visdom env name per test, so tests never see each other's windows."""
    return f"test_{request.node.name[:40]}_{uuid.uuid4().hex[:8]}".replace("[", "_").replace(
        "]", "_"
    )


@pytest.fixture
def viz(visdom_server, env_name) -> visdom.Visdom:
    """A plain visdom client on the shared server, for asserting what the server holds."""
    return visdom.Visdom(
        server="http://127.0.0.1",
        port=visdom_server.port,
        env=env_name,
        use_incoming_socket=False,
        raise_exceptions=True,
    )
