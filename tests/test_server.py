"""VisdomServer: a real server process, started, used, stopped, and never orphaned."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import psutil
import pytest
import requests
import visdom

from visdomkit.server import PortInUseError, VisdomServer


def _client(server: VisdomServer, env: str, **credentials) -> visdom.Visdom:
    return visdom.Visdom(
        server="http://127.0.0.1",
        port=server.port,
        env=env,
        use_incoming_socket=False,
        raise_exceptions=True,
        **credentials,
    )


def _gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return True
        time.sleep(0.1)
    return False


def test_start_answers_and_stop_frees_everything(tmp_path):
    server = VisdomServer(env_path=tmp_path / "envs")
    with pytest.raises(RuntimeError, match="not started"):
        _ = server.url
    server.start()
    try:
        assert server.running
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert requests.get(server.url, timeout=5).status_code == 200
        pid = server.pid
    finally:
        server.stop()
    assert not server.running
    assert _gone(pid)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{server.port}", timeout=2)
    log_text = server.log_path.read_text()
    assert "GET /" in log_text and "visdom server stopped" in log_text
    server.stop()  # a second stop is harmless


def test_envs_live_in_the_chosen_folder_and_survive_a_restart(tmp_path):
    env_path = tmp_path / "envs"
    with VisdomServer(env_path=env_path) as server:
        viz = _client(server, "persisted")
        viz.line(X=[0, 1, 2], Y=[3.0, 2.0, 1.0], win="curve", opts={"title": "curve"})
        viz.save(["persisted"])
    assert (env_path / "persisted.json").is_file()
    # a new server on the same folder (any port: what persists is the folder, not the port)
    with VisdomServer(env_path=env_path) as server:
        data = json.loads(_client(server, "persisted").get_window_data("curve", env="persisted"))
    assert data["title"] == "curve"
    assert data["content"]["data"][0]["y"] == [3.0, 2.0, 1.0]


def test_busy_port_given_explicitly_is_a_clear_error(visdom_server, tmp_path):
    with pytest.raises(PortInUseError, match=rf"port {visdom_server.port} .*already in use"):
        VisdomServer(port=visdom_server.port, env_path=tmp_path).start()
    assert requests.get(visdom_server.url, timeout=5).status_code == 200  # the other is unharmed


def test_no_port_takes_the_next_free_one(tmp_path):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        with VisdomServer(env_path=tmp_path) as first, VisdomServer(env_path=tmp_path) as second:
            assert first.port != second.port
            for server in (first, second):
                assert requests.get(server.url, timeout=5).status_code == 200


def test_listens_on_loopback_only_by_default(visdom_server):
    addresses = {
        conn.laddr.ip
        for conn in psutil.Process(visdom_server.pid).net_connections(kind="inet")
        if conn.status == psutil.CONN_LISTEN
    }
    assert addresses == {"127.0.0.1"}


@pytest.mark.parametrize("bad", [0, 70000, "8097", True, 8097.0])
def test_bad_port_names_the_value(bad):
    with pytest.raises(ValueError, match="port"):
        VisdomServer(port=bad)


_PARENT = textwrap.dedent(
    """
    import os, signal, sys, time
    # An earlier test may leave SIGINT ignored in pytest, and an ignored SIGINT is inherited: a
    # user's interrupted cell has Python's default handler, so this parent gets it explicitly.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from visdomkit.server import VisdomServer
    server = VisdomServer(env_path=sys.argv[1])
    mode = sys.argv[2]
    if mode == "with":
        with server:
            print(server.pid, flush=True)
            time.sleep(600)
    else:
        server.start()
        print(server.pid, flush=True)
        if mode == "exit":
            sys.exit(0)  # no stop(): atexit must clean up
        time.sleep(600)
    """
)


@pytest.mark.slow
@pytest.mark.parametrize(
    "mode, how",
    [
        ("start", signal.SIGKILL),  # a restarted notebook kernel: no cleanup code runs
        ("with", signal.SIGINT),  # an interrupted cell inside `with VisdomServer()`
        ("exit", None),  # the interpreter exits without stop()
    ],
)
def test_server_never_outlives_its_parent(tmp_path, mode, how):
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT, str(tmp_path), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        server_pid = int(parent.stdout.readline())
        assert psutil.pid_exists(server_pid)
        if how is not None:
            os.kill(parent.pid, how)
        try:
            # stop() takes at most 15 s
            parent.wait(60)
        except subprocess.TimeoutExpired:
            parent.kill()
            _, err = parent.communicate(timeout=10)
            pytest.fail(f"parent ({mode}, {how}) did not exit within 60 s; its stderr:\n{err}")
        assert _gone(server_pid), f"server {server_pid} outlived its parent ({mode}, {how})"
    finally:
        parent.kill()


def test_login_refuses_anonymous_writes_and_accepts_credentials(tmp_path, monkeypatch):
    monkeypatch.delenv("VISDOM_USERNAME", raising=False)
    with pytest.raises(ValueError, match="username and a password"):
        VisdomServer(login=True, env_path=tmp_path)
    with VisdomServer(env_path=tmp_path, username="alice", password="s3cret-pw") as server:
        assert "s3cret-pw" not in repr(server)
        cmdline = " ".join(psutil.Process(server.pid).cmdline())
        assert "s3cret-pw" not in cmdline
        _client(server, "locked", **server.credentials).text("hello", win="ok")
        anonymous = _client(server, "locked")
        anonymous.text("intruder", win="nope")
        authed = _client(server, "locked", **server.credentials)
        assert authed.win_exists("ok", env="locked")
        assert not authed.win_exists("nope", env="locked")
    assert "s3cret-pw" not in server.log_path.read_text()


def test_relative_favicon_link_resolves_on_every_page(visdom_server):
    # visdom's page links "favicon.png" relative to /env/NAME; stock visdom answers it with a 404
    # that browsers log as a console error on every dashboard.
    for path in ("/favicon.png", "/env/favicon.png", "/compare/favicon.png"):
        answer = requests.get(visdom_server.url + path, timeout=10)
        assert answer.status_code == 200, path
        assert answer.headers["Content-Type"] == "image/png"
        assert answer.content.startswith(b"\x89PNG")
    # every other /env/ path still reaches visdom's env page (404 on 0.3.0, a new env on 0.2.4)
    page = requests.get(visdom_server.url + "/env/no_such_env", timeout=10)
    assert "image/png" not in page.headers["Content-Type"]
