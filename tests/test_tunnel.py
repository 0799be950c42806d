"""expose(): publish a Visdom server through ngrok without publishing an open dashboard or a token.

ngrok's cloud is unreachable from the test machines, so pyngrok drives a stand-in agent
(tunnel_helpers/fake_ngrok.py: same command line, same log lines, same local HTTP API, no
forwarding). It is the only stand-in: the Visdom servers, pyngrok, the HTTP between pyngrok and
the agent, the agent process, the pseudo-terminal and the files are all real.
"""

from __future__ import annotations

import io
import os
import select
import socket
import subprocess
import sys
import time
import traceback
import uuid
from pathlib import Path

import psutil
import pytest
import requests
from pyngrok import conf, ngrok, process
from tunnel_helpers.agent import FakeNgrok, files_containing, gone, sha256

from visdomkit.server import VisdomServer
from visdomkit.tunnel import TunnelError, UnprotectedServerError, close_all, expose

HELPERS = Path(__file__).parent / "tunnel_helpers"
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def fake_ngrok(tmp_path, monkeypatch):
    """A stand-in ngrok binary in a fresh folder; no token in the environment; all cleaned up."""
    agent = FakeNgrok(tmp_path / "ngrok")
    monkeypatch.setenv("FAKE_NGROK_EVENTS", str(agent.events_path))
    monkeypatch.delenv("NGROK_AUTHTOKEN", raising=False)
    yield agent
    close_all()
    ngrok.kill(agent.config())  # an agent a test started itself


@pytest.fixture(scope="module")
def login_server(tmp_path_factory):
    """A server with Visdom's login on, bound to every interface (one start serves both tests)."""
    with VisdomServer(
        host="0.0.0.0",
        env_path=tmp_path_factory.mktemp("login-envs"),
        username="vk",
        password="vk-password-1",
    ) as server:
        yield server


def _token() -> str:
    return f"vkfaketoken_{uuid.uuid4().hex}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- who may be published ----------------------------------------------------------------------


def test_refuses_a_server_without_login_or_basic_auth(visdom_server, fake_ngrok, monkeypatch):
    monkeypatch.setenv("NGROK_AUTHTOKEN", _token())
    for target in (visdom_server, visdom_server.port, visdom_server.url):
        with pytest.raises(UnprotectedServerError) as excinfo:
            expose(target, pyngrok_config=fake_ngrok.config())
        message = str(excinfo.value)
        assert visdom_server.url in message
        for how in (
            "VisdomServer(login=True)",
            "VISDOM_USERNAME",
            "auth=(",
            "allow_anonymous=True",
        ):
            assert how in message
    assert fake_ngrok.events() == []  # refused before any agent was started


def test_allow_anonymous_publishes_with_a_warning(visdom_server, fake_ngrok, monkeypatch):
    monkeypatch.setenv("NGROK_AUTHTOKEN", _token())
    with pytest.warns(UserWarning, match="without Visdom login or basic auth"):
        tunnel = expose(visdom_server, allow_anonymous=True, pyngrok_config=fake_ngrok.config())
    with tunnel:
        assert tunnel.protection == "none"
        (created,) = fake_ngrok.events("create")
        assert created["credentials_sha256"] == []
        assert created["upstream"] == visdom_server.url


def test_a_login_server_is_published_without_basic_auth(login_server, fake_ngrok, monkeypatch):
    monkeypatch.setenv("NGROK_AUTHTOKEN", _token())
    with expose(login_server, pyngrok_config=fake_ngrok.config()) as tunnel:
        assert tunnel.protection == "visdom login"
        assert tunnel.public_url.startswith("https://")
        assert tunnel.env_url("a b") == f"{tunnel.public_url}/env/a%20b"
        (created,) = fake_ngrok.events("create")
        assert created["upstream"] == login_server.url
        assert created["credentials_sha256"] == []
    # For a bare port, login status cannot be seen: the caller vouches for it.
    with expose(login_server.port, login=True, pyngrok_config=fake_ngrok.config()) as tunnel:
        assert tunnel.protection == "visdom login"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"auth": ("user", "short")}, "auth password must be 8 to 128 characters.*got 5"),
        ({"auth": "no-colon-here"}, "auth must be"),
        ({"auth": ("us:er", "long-enough-pw")}, "auth user name"),
        ({"auth": 42}, "auth must be"),
        ({"login": False}, "login=False contradicts the server"),
    ],
)
def test_bad_arguments_name_the_argument_never_the_password(
    login_server, fake_ngrok, kwargs, match
):
    with pytest.raises(ValueError, match=match) as excinfo:
        expose(login_server, pyngrok_config=fake_ngrok.config(), **kwargs)
    auth = kwargs.get("auth")
    if isinstance(auth, tuple):
        assert auth[1] not in str(excinfo.value)
    assert fake_ngrok.events() == []


@pytest.mark.parametrize("target", [0, 70000, "ftp://host:1", "8097", True, 1.5])
def test_bad_targets_are_named(target):
    with pytest.raises(ValueError, match="server_or_port"):
        expose(target, auth=("user", "long-enough-pw"))


def test_nothing_listening_is_a_clear_error(fake_ngrok):
    with pytest.raises(ConnectionError, match=r"nothing answers at http://127\.0\.0\.1:"):
        expose(_free_port(), auth=("user", "long-enough-pw"), pyngrok_config=fake_ngrok.config())
    assert fake_ngrok.events() == []


# -- the token and the password ----------------------------------------------------------------


@pytest.mark.parametrize("config_version", ["3", "2"])  # ngrok endpoints; legacy v2 tunnels
def test_basic_auth_reaches_ngrok_and_no_secret_reaches_output_logs_argv_or_disk(
    visdom_server, fake_ngrok, monkeypatch, capfd, caplog, tmp_path_factory, config_version
):
    started = time.time() - 1
    token, password = _token(), f"pw-{uuid.uuid4().hex}"
    monkeypatch.setenv("NGROK_AUTHTOKEN", token)
    caplog.set_level("DEBUG")  # pyngrok logs request bodies at DEBUG
    config = fake_ngrok.config(config_version=config_version)

    tunnel = expose(visdom_server, auth=("alice", password), pyngrok_config=config)
    (start,) = fake_ngrok.events("start")
    agent = psutil.Process(start["pid"])
    # The token reached the agent through its environment, not its command line.
    assert start["token_source"] == "env" and start["token_sha256"] == sha256(token)
    assert not start["authtoken_in_argv"]
    assert token not in " ".join(agent.cmdline())
    assert agent.environ().get("NGROK_AUTHTOKEN") == token
    (created,) = fake_ngrok.events("create")
    assert created["kind"] == ("endpoints" if config_version == "3" else "tunnels")
    assert created["credentials_sha256"] == [sha256(f"alice:{password}")]
    assert created["upstream"] == visdom_server.url
    assert tunnel.protection == "basic auth"
    assert tunnel.public_url == created["url"]
    tunnel.close()
    assert [e["name"] for e in fake_ngrok.events("delete")] == [created["name"]]
    assert gone(start["pid"])  # expose() started the agent, so close() stopped it

    out, err = capfd.readouterr()
    messages = [r.getMessage() for r in caplog.records]
    # Not vacuous: pyngrok did log the request that carried the credentials, scrubbed.
    assert any("alice:***" in m for m in messages)
    for secret in (token, password):
        assert secret not in out and secret not in err
        assert not [m for m in messages if secret in m]
        assert secret not in repr(tunnel) and secret not in str(tunnel)
    roots = [
        tmp_path_factory.getbasetemp(),  # every tmp dir of this run, the server's envs and log
        Path(conf.DEFAULT_NGROK_DIR),  # where pyngrok/ngrok keep ngrok.yml by default
        Path.home() / ".visdomkit",
        REPO,  # minus .git and the virtualenvs
    ]
    assert files_containing([token, password], roots, since=started) == []
    # Not vacuous: the scan does read these files (the agent's event log holds the public URL).
    assert str(fake_ngrok.events_path) in files_containing([created["url"]], roots, started)
    assert fake_ngrok.config_path.is_file()  # pyngrok wrote ngrok.yml, without the token
    assert fake_ngrok.events("add-authtoken") == []  # set_auth_token() was never used


@pytest.mark.parametrize("source", ["argument", "pyngrok_config"])
def test_a_token_given_in_code_goes_through_the_environment_then_leaves_it(
    visdom_server, fake_ngrok, source
):
    token = _token()
    if source == "argument":
        kwargs = {"authtoken": token, "pyngrok_config": fake_ngrok.config()}
    else:  # pyngrok itself would put this one on the command line (--authtoken)
        kwargs = {"pyngrok_config": fake_ngrok.config(auth_token=token)}
    with expose(visdom_server, auth=("bob", "long-enough-pw"), **kwargs):
        (start,) = fake_ngrok.events("start")
        assert start["token_source"] == "env" and start["token_sha256"] == sha256(token)
        assert not start["authtoken_in_argv"]
        assert "NGROK_AUTHTOKEN" not in os.environ  # only the agent got it


def test_a_rejected_token_is_scrubbed_from_the_error_and_the_logs(
    visdom_server, fake_ngrok, monkeypatch, capfd, caplog
):
    # The real agent quotes a malformed token back in ERR_NGROK_105, and pyngrok puts that line
    # into its exception and its log; "-" makes the stand-in reject this one the same way.
    token = f"bad-token-{uuid.uuid4().hex}"
    monkeypatch.setenv("NGROK_AUTHTOKEN", token)
    caplog.set_level("DEBUG")
    with pytest.raises(TunnelError, match="does not look like a proper ngrok authtoken") as exc:
        expose(visdom_server, auth=("bob", "long-enough-pw"), pyngrok_config=fake_ngrok.config())
    assert fake_ngrok.events("start")[0]["token_sha256"] == sha256(token)  # it did get there
    shown = "".join(traceback.format_exception(exc.value))  # what a notebook would display
    assert "***" in shown and token not in shown
    out, err = capfd.readouterr()
    assert token not in out + err
    assert [r for r in caplog.records if "ERR_NGROK_105" in r.getMessage()]
    assert not [r for r in caplog.records if token in r.getMessage()]


def test_no_token_and_no_terminal_is_a_clear_error(visdom_server, fake_ngrok, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO())  # nobody to prompt (as under CI)
    with pytest.raises(TunnelError, match="set the NGROK_AUTHTOKEN environment variable"):
        expose(visdom_server, auth=("bob", "long-enough-pw"), pyngrok_config=fake_ngrok.config())
    assert fake_ngrok.events() == []


@pytest.mark.slow
def test_terminal_prompt_hides_the_token_and_exit_closes_the_tunnel(visdom_server, fake_ngrok):
    """A child on a real pseudo-terminal: getpass prompt, no echo, then atexit cleanup."""
    token = _token()
    env = {k: v for k, v in os.environ.items() if k != "NGROK_AUTHTOKEN"}
    master, slave = os.openpty()
    child = subprocess.Popen(
        [
            sys.executable,
            str(HELPERS / "prompt_child.py"),
            str(fake_ngrok.path),
            str(fake_ngrok.config_path),
            str(visdom_server.port),
        ],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
        env=env,
    )
    os.close(slave)
    screen = b""
    typed = False
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                screen += chunk
            if not typed and b"ngrok authtoken" in screen:
                os.write(master, token.encode() + b"\n")
                typed = True
            if child.poll() is not None and not ready:
                break
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
        os.close(master)
    text = screen.decode(errors="replace")
    assert typed, text
    assert child.returncode == 0, text
    assert "input hidden" in text and "PUBLIC https://" in text
    assert token not in text  # the terminal never echoed it
    assert "TOKEN_LEFT_IN_ENVIRON False" in text
    (start,) = fake_ngrok.events("start")
    assert start["token_source"] == "env" and start["token_sha256"] == sha256(token)
    (created,) = fake_ngrok.events("create")
    # The child never called close(): its exit did.
    assert [e["name"] for e in fake_ngrok.wait_for("delete")] == [created["name"]]
    assert gone(start["pid"])


# -- closing -----------------------------------------------------------------------------------


def test_context_exit_closes_and_an_agent_started_elsewhere_keeps_running(
    visdom_server, fake_ngrok, monkeypatch
):
    monkeypatch.setenv("NGROK_AUTHTOKEN", _token())
    config = fake_ngrok.config()
    theirs = ngrok.get_ngrok_process(config)  # someone else's agent, started before expose()
    with expose(visdom_server, auth=("carol", "long-enough-pw"), pyngrok_config=config) as tunnel:
        assert not tunnel.closed
        assert "open" in repr(tunnel)
    assert tunnel.closed and "closed" in repr(tunnel)
    assert len(fake_ngrok.events("delete")) == 1
    assert process.is_process_running(config.ngrok_path)  # not ours to stop
    assert theirs.proc.poll() is None
    tunnel.close()  # twice is fine
    assert len(fake_ngrok.events("delete")) == 1


# -- where the server listens ------------------------------------------------------------------


def test_wildcard_host_listens_on_all_interfaces(login_server):
    # The loopback-only default is tests/test_server.py::test_listens_on_loopback_only_by_default.
    addresses = {
        conn.laddr.ip
        for conn in psutil.Process(login_server.pid).net_connections(kind="inet")
        if conn.status == psutil.CONN_LISTEN
    }
    assert addresses == {"0.0.0.0"}
    assert login_server.url == f"http://127.0.0.1:{login_server.port}"
    assert requests.get(login_server.url, timeout=5).status_code == 200
