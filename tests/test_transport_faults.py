"""Transport faults: a server that is down at start, killed and restarted, slow, answering errors,
or needing a login; fork, spawn and interpreter exit. Assertions are on what the server holds."""

from __future__ import annotations

import inspect
import json
import logging
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from visdomkit import wire
from visdomkit.bench.transport import SlowProxy
from visdomkit.journal import read_journal
from visdomkit.server import VisdomServer
from visdomkit.transport import Transport, window_id


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def held(url: str, env: str, name: str, **login) -> dict[str, tuple[list, list]]:
    """``{trace: (x, y)}`` of metric ``name``'s window as the server stores it."""
    http = wire.VisdomHTTP(url, **login)
    try:
        pane = http.window_data(env, window_id(name))
    finally:
        http.close()
    assert pane is not None, f"window {name!r} is not on the server"
    return {t["name"]: (t["x"], t["y"]) for t in pane["content"]["data"]}


def messages(caplog, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


def log_steps(t: Transport, steps: range, bound: float = 0.05) -> None:
    for step in steps:
        start = time.perf_counter()
        t.log({"loss": step / 10, "acc": -step}, x=step)
        assert time.perf_counter() - start < bound  # returns at once (sanity bound)


@pytest.mark.slow
def test_server_down_at_start_killed_stopped_and_restarted(tmp_path, caplog):
    """One run through three outages; server starts are slow, so they share one test."""
    caplog.set_level(logging.WARNING, logger="visdomkit")
    envs, port = tmp_path / "envs", free_port()
    t = Transport(f"http://127.0.0.1:{port}", "restart", run_dir=tmp_path / "run", max_backoff=0.5)
    server = None
    try:
        log_steps(t, range(100))  # down at start
        assert t.flush(1) is False
        server = VisdomServer(port=port, env_path=envs).start()
        log_steps(t, range(100, 150))
        assert t.flush(30)
        assert held(server.url, "restart", "loss")["loss"][0] == [float(s) for s in range(150)]

        os.killpg(server.pid, signal.SIGKILL)  # killed mid-run: it saved nothing
        server.stop()
        log_steps(t, range(150, 250))
        assert t.flush(1) is False
        server = VisdomServer(port=port, env_path=envs).start()
        log_steps(t, range(250, 300))
        assert t.flush(30)
        assert held(server.url, "restart", "acc")["acc"] == (
            [float(s) for s in range(300)],
            [float(-s) for s in range(300)],
        )

        server.stop()  # graceful: the restarted server reloads the saved (now stale) env
        log_steps(t, range(300, 400))
        server = VisdomServer(port=port, env_path=envs).start()
        assert t.flush(30)
        xs, ys = held(server.url, "restart", "acc")["acc"]
        assert xs == [float(s) for s in range(400)]  # each point once, in order
        assert ys == [float(-s) for s in range(400)]
    finally:
        t.close(timeout=5)
        if server is not None:
            server.stop()
    assert read_journal(t.journal_path).points == 800
    assert len(messages(caplog, "unreachable")) == 3  # one per outage, not one per call
    assert len(messages(caplog, "is back after")) == 3
    assert not any(r.exc_info for r in caplog.records)


def test_a_slow_server_gets_fewer_larger_requests(visdom_server, env_name, tmp_path):
    with SlowProxy(visdom_server.port, delay=0.2) as proxy:
        t = Transport(proxy.url, env_name, run_dir=tmp_path, flush_interval=0.05)
        for step in range(100):
            log_steps(t, range(step, step + 1))
            time.sleep(0.01)
        assert t.flush(60)
        t.close()
    assert held(visdom_server.url, env_name, "loss")["loss"][0] == [float(s) for s in range(100)]
    stats = t.stats
    assert stats.sent >= 200
    assert stats.requests < 30  # each ~0.2 s request carries what arrived meanwhile


def test_a_server_answering_errors_then_recovering(visdom_server, env_name, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="visdomkit")
    with SlowProxy(visdom_server.port) as proxy:
        proxy.error_status = 500
        t = Transport(proxy.url, env_name, run_dir=tmp_path, max_backoff=0.3)
        log_steps(t, range(30))
        assert t.flush(2) is False
        time.sleep(1.0)  # several failed attempts with backoff
        log_steps(t, range(30, 40))
        proxy.error_status = None
        assert t.flush(30)
        t.close()
    assert held(visdom_server.url, env_name, "loss")["loss"][0] == [float(s) for s in range(40)]
    assert t.stats.failures >= 2
    assert len(messages(caplog, "unreachable")) == 1  # one warning, not one per attempt
    assert len(messages(caplog, "is back after")) == 1
    assert not any(r.exc_info for r in caplog.records)


def test_login(tmp_path, caplog):
    if "username" not in inspect.signature(VisdomServer).parameters:
        pytest.skip("this VisdomServer cannot enable a login")
    caplog.set_level(logging.WARNING, logger="visdomkit")
    with VisdomServer(env_path=tmp_path / "envs", username="ada", password="pw-1") as server:
        with Transport(server, "secure", run_dir=tmp_path / "ok") as t:  # credentials from it
            log_steps(t, range(5))
            assert t.flush(20)
        login = {"username": "ada", "password": "pw-1"}
        assert held(server.url, "secure", "loss", **login)["loss"][0] == [0.0, 1.0, 2.0, 3.0, 4.0]
        bad = Transport(
            server.url, "secure", run_dir=tmp_path / "bad", username="ada", password="x"
        )
        log_steps(bad, range(5))
        assert bad.flush(2) is False
        time.sleep(1.0)  # several refused attempts with backoff
        log_steps(bad, range(5, 10))  # still journaled
        assert bad.flush(2) is False
        bad.close(timeout=1)
        assert read_journal(bad.journal_path).points == 20
        # a refused login is reported as such, once, naming the server and the user
        refused = messages(caplog, "refused the login")
        assert len(refused) == 1
        assert server.url in refused[0] and "'ada'" in refused[0] and "password" in refused[0]
        assert str(bad.journal_path) in refused[0]
        assert messages(caplog, "unreachable") == []

        anonymous = Transport(server.url, "secure", run_dir=tmp_path / "anon")
        log_steps(anonymous, range(3))
        assert anonymous.flush(2) is False
        anonymous.close(timeout=1)
        (needed,) = messages(caplog, "requires a login")
        assert server.url in needed and "VISDOM_USERNAME" in needed
        assert read_journal(anonymous.journal_path).points == 6
    assert all("pw-1" not in r.getMessage() for r in caplog.records)
    assert all("'x'" not in r.getMessage() for r in caplog.records)  # the wrong password


def _log_in_child(transport: Transport, name: str) -> None:
    transport.log({name: 1.0}, x=0)
    transport.log({name: 2.0}, x=1)
    ok = transport.flush(20)
    transport.close()
    sys.exit(0 if ok else 3)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["fork", "spawn"])
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_fork_and_spawn(visdom_server, env_name, tmp_path, method):
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} here")
    t = Transport(visdom_server, env_name, run_dir=tmp_path, flush_interval=0.05)
    t.log({"parent": 1.0}, x=0)
    assert t.flush(10)
    ctx = multiprocessing.get_context(method)
    child = ctx.Process(target=_log_in_child, args=(t, "child"))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    t.log({"parent": 2.0}, x=1)
    assert t.flush(10)
    t.close()
    assert held(visdom_server.url, env_name, "child")["child"] == ([0.0, 1.0], [1.0, 2.0])
    assert held(visdom_server.url, env_name, "parent")["parent"] == ([0.0, 1.0], [1.0, 2.0])
    journals = sorted(tmp_path.glob("visdom-journal-*.jsonl"))
    assert len(journals) == 2  # the child wrote its own
    assert read_journal(tmp_path).points == 4


@pytest.mark.slow
def test_points_are_flushed_at_interpreter_exit(visdom_server, env_name, tmp_path):
    script = textwrap.dedent(
        f"""
        from visdomkit.transport import Transport
        t = Transport({visdom_server.url!r}, {env_name!r}, run_dir={str(tmp_path)!r})
        for step in range(50):
            t.append("at exit", step, step * 2)
        # no flush, no close: the atexit hook sends them
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    xs, ys = held(visdom_server.url, env_name, "at exit")["at exit"]
    assert xs == [float(s) for s in range(50)] and ys == [float(2 * s) for s in range(50)]
    journal = next(tmp_path.glob("visdom-journal-*.jsonl"))
    assert all(json.loads(line) for line in journal.read_text().splitlines())
