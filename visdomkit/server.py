"""A local Visdom server as a managed component: start, wait until it answers, stop, no orphans."""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
import weakref
from pathlib import Path

import requests

from visdomkit._server_main import EXIT_PORT_IN_USE

log = logging.getLogger("visdomkit")

DEFAULT_PORT = 8097
_PORT_SEARCH = 100  # how many ports after DEFAULT_PORT to try when none was asked for
_RUNNING: weakref.WeakSet[VisdomServer] = weakref.WeakSet()


def default_env_path() -> Path:
    """Where envs are kept unless told otherwise: ``$VISDOMKIT_ENV_PATH`` or ~/.visdomkit/envs."""
    return Path(os.environ.get("VISDOMKIT_ENV_PATH", Path.home() / ".visdomkit" / "envs"))


class PortInUseError(OSError):
    """The port asked for is taken by another process."""


class ServerStartError(RuntimeError):
    """The server process exited or did not answer in time; the message quotes its log."""


class VisdomServer:
    """Run a Visdom server in a child process for as long as you need it.

    The server never downloads anything (see ``python -m visdomkit assets install``), renders on
    current tornado, binds to loopback unless told otherwise, and dies with its parent: on
    ``stop()``, on leaving a ``with`` block (also through an exception or a notebook interrupt),
    at interpreter exit, and when the parent is killed outright (a restarted kernel).

    Args:
        port: port to listen on. ``None`` takes 8097, or the next free port after it.
            A port that is given but busy raises :class:`PortInUseError`.
        host: address to bind. ``"127.0.0.1"`` (default) keeps the dashboard private to this
            machine; ``"0.0.0.0"`` exposes it on every interface (visdom has no login by default).
        env_path: folder where envs are saved as JSON; created if missing. Defaults to
            ``$VISDOMKIT_ENV_PATH`` or ``~/.visdomkit/envs``.
        log_path: file the server writes its log to. Defaults to ``server-PORT.log`` in
            ``env_path``.
        readonly: start visdom in read-only mode.
        username: enable visdom's login with this user name (default: ``$VISDOM_USERNAME``
            when ``login=True``).
        password: the login password (default: ``$VISDOM_PASSWORD`` when ``login=True``).
            Handed to the server through its environment, never its command line or log.
        login: require a login. ``None`` (default) enables it when a username is given.
        startup_timeout: seconds to wait for the server to answer.

    Example:
        >>> with VisdomServer(env_path="runs/visdom") as server:  # doctest: +SKIP
        ...     print(server.url)
        http://127.0.0.1:8097
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        host: str = "127.0.0.1",
        env_path: str | os.PathLike[str] | None = None,
        log_path: str | os.PathLike[str] | None = None,
        readonly: bool = False,
        username: str | None = None,
        password: str | None = None,
        login: bool | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        if port is not None and (
            isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535
        ):
            raise ValueError(f"port must be an int in 1..65535 or None, got {port!r}")
        if not isinstance(host, str) or not host:
            raise ValueError(f"host must be a non-empty address string, got {host!r}")
        self.requested_port = port
        self.host = host
        self.env_path = Path(env_path) if env_path is not None else default_env_path()
        self._log_path = Path(log_path) if log_path is not None else None
        self.readonly = readonly
        if login is None:
            login = username is not None
        if login:
            username = username or os.environ.get("VISDOM_USERNAME")
            password = password or os.environ.get("VISDOM_PASSWORD")
            if not (username and password):
                raise ValueError(
                    "login needs a username and a password: pass username=/password= or set "
                    "VISDOM_USERNAME and VISDOM_PASSWORD"
                )
        self.login = bool(login)
        self.username = username if login else None
        self._password = password if login else None
        self.startup_timeout = startup_timeout
        self.port: int | None = None
        self._proc: subprocess.Popen | None = None

    # -- public -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:8097`` (loopback shown for a wildcard bind)."""
        if self.port is None:
            raise RuntimeError("VisdomServer is not started; call start() or use `with`")
        shown = "127.0.0.1" if self.host in ("0.0.0.0", "", "::") else self.host
        if ":" in shown:
            shown = f"[{shown}]"
        return f"http://{shown}:{self.port}"

    @property
    def log_path(self) -> Path:
        """The server's log file."""
        return self._log_path or self.env_path / f"server-{self.port}.log"

    @property
    def credentials(self) -> dict[str, str]:
        """``{"username": ..., "password": ...}`` for clients when login is on, else ``{}``."""
        return {"username": self.username, "password": self._password} if self.login else {}

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def env_url(self, env: str) -> str:
        """URL of one env's dashboard page."""
        return f"{self.url}/env/{requests.utils.quote(env, safe='')}"

    def start(self) -> VisdomServer:
        """Start the server and return once it answers HTTP requests."""
        if self.running:
            return self
        self.env_path.mkdir(parents=True, exist_ok=True)
        if self.requested_port is not None:
            self._launch(self.requested_port)
        else:
            for port in range(DEFAULT_PORT, DEFAULT_PORT + _PORT_SEARCH):
                try:
                    self._launch(port)
                    break
                except PortInUseError:
                    continue
            else:
                raise PortInUseError(
                    f"no free port in {DEFAULT_PORT}..{DEFAULT_PORT + _PORT_SEARCH - 1}"
                )
        _RUNNING.add(self)
        log.info("visdom server running at %s (envs in %s)", self.url, self.env_path)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server and its whole process group; safe to call twice."""
        proc, self._proc = self._proc, None
        _RUNNING.discard(self)
        if proc is None or proc.poll() is not None:
            return
        _signal_group(proc, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_group(proc, signal.SIGKILL)
            proc.wait(5)

    def __enter__(self) -> VisdomServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"url={self.url!r}" if self.running else "stopped"
        return f"VisdomServer({state}, env_path={str(self.env_path)!r})"

    # -- internals ----------------------------------------------------------------------------

    def _launch(self, port: int) -> None:
        self.port = port
        cmd = [
            sys.executable,
            "-m",
            "visdomkit._server_main",
            f"--port={port}",
            f"--host={self.host}",
            f"--env-path={self.env_path}",
            f"--parent-pid={os.getpid()}",
            f"--ready-file={self._ready_file()}",
        ]
        if self.readonly:
            cmd.append("--readonly")
        env = dict(os.environ)
        if self.login:
            cmd.append("--login")
            env.update(VISDOM_USERNAME=self.username, VISDOM_PASSWORD=self._password)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._ready_file().unlink(missing_ok=True)
        with open(self.log_path, "ab") as logfile:
            # A new session: Ctrl-C in a terminal or a kernel interrupt reaches us, not the
            # server; we decide when it stops. Its stdin is closed so it never waits for input.
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=logfile,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
            )
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise

    def _ready_file(self) -> Path:
        return self.env_path / f".server-{self.port}.ready"

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            code = self._proc.poll()
            if code == EXIT_PORT_IN_USE:
                raise PortInUseError(
                    f"port {self.port} on {self.host} is already in use (another visdom "
                    "server?). Pass port=None to take the next free port, or stop that process."
                )
            if code is not None:
                raise ServerStartError(
                    f"visdom server exited with code {code}; log {self.log_path}:\n"
                    + _tail(self.log_path)
                )
            # The ready file proves that *our* process bound the port (not another server).
            if self._ready_file().is_file():
                try:
                    requests.get(self.url, timeout=2)
                    self._ready_file().unlink(missing_ok=True)
                    return
                except requests.RequestException:
                    pass
            time.sleep(0.1)
        raise ServerStartError(
            f"visdom server did not answer on {self.url} within {self.startup_timeout:.0f} s; "
            f"log {self.log_path}:\n" + _tail(self.log_path)
        )


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@atexit.register
def _stop_all() -> None:
    for server in list(_RUNNING):
        server.stop()
