"""Publish a local Visdom dashboard on a public HTTPS URL with ngrok (through pyngrok), safely.

A Visdom dashboard accepts writes and deletions from anyone who reaches it, so :func:`expose`
refuses to publish a server that has neither Visdom's login nor ngrok basic auth, unless told
``allow_anonymous=True``. The ngrok authtoken is taken from ``$NGROK_AUTHTOKEN`` or a hidden
prompt and handed to the ngrok agent through its environment: never its command line (which other
local users can read), never a file, never a log record or an error message.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import getpass
import logging
import os
import sys
import threading
import uuid
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import requests

if TYPE_CHECKING:
    from pyngrok.conf import PyngrokConfig

    from visdomkit.server import VisdomServer

log = logging.getLogger("visdomkit")

TOKEN_ENV = "NGROK_AUTHTOKEN"
_TOKEN_HELP = "https://dashboard.ngrok.com/get-started/your-authtoken"
_PYNGROK_LOGGERS = (
    "pyngrok.ngrok",
    "pyngrok.process",
    "pyngrok.process.ngrok",
    "pyngrok.installer",
)

_lock = threading.RLock()
_open: list[Tunnel] = []
_agents_we_started: set[str] = set()  # ngrok_path of agents that expose() launched
_secrets: set[str] = set()  # kept in memory only, to scrub pyngrok's log records and errors


class UnprotectedServerError(RuntimeError):
    """expose() was asked to publish a server that has no login and no basic auth."""


class TunnelError(RuntimeError):
    """ngrok could not open or run the tunnel; the message never contains a secret."""


class Tunnel:
    """A public HTTPS URL that forwards to a local Visdom server, open until :meth:`close`.

    Returned by :func:`expose`. It closes on :meth:`close`, on leaving a ``with`` block and at
    interpreter exit. Its ``repr`` shows the URLs and how the dashboard is protected, never a
    password or token.

    Attributes:
        public_url: the ``https://`` URL that ngrok assigned.
        local_url: the local server the tunnel forwards to.
        protection: ``"visdom login"``, ``"basic auth"``, ``"visdom login + basic auth"`` or
            ``"none"``.

    Example:
        >>> with expose(server, auth=("me", "a long password")) as tunnel:  # doctest: +SKIP
        ...     print(tunnel.env_url("my_run"))
        https://1a2b3c4d.ngrok-free.app/env/my_run
    """

    def __init__(
        self,
        public_url: str,
        local_url: str,
        protection: str,
        *,
        config: PyngrokConfig,
        name: str,
    ) -> None:
        self.public_url = public_url
        self.local_url = local_url
        self.protection = protection
        self.name = name
        self._config = config
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        return self._closed

    @property
    def url(self) -> str:
        """Same as :attr:`public_url`, so a Tunnel can stand in for a server URL."""
        return self.public_url

    def env_url(self, env: str) -> str:
        """Public URL of one env's dashboard page."""
        return f"{self.public_url}/env/{quote(env, safe='')}"

    def close(self) -> None:
        """Close the public URL, and stop the ngrok agent if expose() started it and it is idle.

        Safe to call twice. Errors while closing are logged, not raised.
        """
        from pyngrok import ngrok, process

        with _lock:
            if self._closed:
                return
            self._closed = True
            if self in _open:
                _open.remove(self)
            path = self._config.ngrok_path
            try:
                ngrok.disconnect(self.public_url, pyngrok_config=self._config)
            except Exception as e:  # the agent may already be gone (e.g. killed at exit)
                log.warning("could not close tunnel %s cleanly: %s", self.public_url, _scrub(e))
            log.info("closed public URL %s", self.public_url)
            still_ours = any(t._config.ngrok_path == path for t in _open)
            if path in _agents_we_started and not still_ours:
                try:
                    idle = not process.is_process_running(path) or not ngrok.get_tunnels(
                        pyngrok_config=self._config
                    )
                except Exception:
                    idle = True
                if idle:  # leave an agent alone that someone else's tunnels still use
                    ngrok.kill(pyngrok_config=self._config)
                    _agents_we_started.discard(path)

    def __enter__(self) -> Tunnel:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return (
            f"Tunnel({self.public_url!r} -> {self.local_url!r}, protection={self.protection!r}, "
            f"{state})"
        )


def expose(
    server_or_port: VisdomServer | int | str,
    *,
    auth: tuple[str, str] | str | None = None,
    login: bool | None = None,
    allow_anonymous: bool = False,
    authtoken: str | None = None,
    region: str | None = None,
    pyngrok_config: PyngrokConfig | None = None,
) -> Tunnel:
    """Publish a local Visdom dashboard on a public HTTPS URL through ngrok.

    Refuses, before it contacts ngrok, to publish a dashboard that anyone could write to: the
    server must have Visdom's login on (a :class:`~visdomkit.VisdomServer` started with
    ``login=True``), or ``auth`` must set ngrok basic auth, or ``allow_anonymous=True`` must say
    you mean it (you then get a warning).

    The ngrok authtoken comes from ``authtoken``, else ``$NGROK_AUTHTOKEN``, else ngrok's own config
    file (``ngrok config add-authtoken``, if you ran it), else a hidden prompt (terminal, Jupyter,
    Colab). visdomkit hands it to the ngrok agent through the agent's environment and never
    prints, logs or saves it; pyngrok's ``set_auth_token`` is not used because it writes the token
    into ngrok.yml.

    Args:
        server_or_port: a running :class:`~visdomkit.VisdomServer`, a local port, or a URL such as
            ``"http://127.0.0.1:8097"``.
        auth: ngrok basic auth, ``("user", "password")`` or ``"user:password"``; ngrok wants a
            password of 8 to 128 characters.
        login: for a port or URL, say ``True`` if that server has Visdom's login enabled (it
            cannot be checked from outside). A VisdomServer knows; leave it ``None``.
        allow_anonymous: publish even without login or basic auth (warns).
        authtoken: the ngrok authtoken; prefer ``$NGROK_AUTHTOKEN`` so it stays out of your code.
        region: ngrok region (``"us"``, ``"eu"``, ``"ap"``, ...); applies when this call starts
            the ngrok agent.
        pyngrok_config: a ``pyngrok.conf.PyngrokConfig`` (e.g. another ``ngrok_path``); defaults to
            a copy of pyngrok's default. Its ``auth_token`` is used as a token source but never
            put on the agent's command line.

    Returns:
        The open :class:`Tunnel`; use it in a ``with`` block or call ``close()``.

    Raises:
        UnprotectedServerError: no login, no ``auth`` and no ``allow_anonymous``.
        ValueError: a bad argument (named in the message; passwords are never quoted).
        ConnectionError: nothing answers at the local URL.
        TunnelError: no authtoken, or ngrok failed (message scrubbed of secrets).
        ImportError: pyngrok is not installed.

    Example:
        >>> from visdomkit import VisdomServer, expose
        >>> with VisdomServer(login=True) as server:  # doctest: +SKIP
        ...     tunnel = expose(server)  # VISDOM_USERNAME / VISDOM_PASSWORD, NGROK_AUTHTOKEN
        ...     print(tunnel.public_url)
        https://1a2b3c4d.ngrok-free.app
    """
    local_url, has_login, port = _resolve_target(server_or_port, login)
    credentials = _parse_auth(auth)
    protection = _protection(has_login, credentials is not None)
    if protection == "none":
        if not allow_anonymous:
            raise UnprotectedServerError(
                f"refusing to publish {local_url}: it has neither a Visdom login nor ngrok basic "
                "auth, and anyone who finds the URL could write and delete your plots. Enable one: "
                "start the server with a login (VisdomServer(login=True) with VISDOM_USERNAME and "
                "VISDOM_PASSWORD set, or username=/password=), or pass "
                'auth=("user", "a password of 8+ characters") to expose(). To publish it '
                "unprotected anyway, pass allow_anonymous=True."
            )
        warnings.warn(
            f"publishing {local_url} without Visdom login or basic auth (allow_anonymous=True): "
            "anyone with the URL can write and delete plots",
            UserWarning,
            stacklevel=2,
        )
    _check_answers(local_url)

    ngrok, process, conf, PyngrokError = _import_pyngrok()
    config = copy.copy(pyngrok_config if pyngrok_config is not None else conf.get_default())
    # pyngrok would pass this as `--authtoken TOKEN`, readable by every local user in `ps`.
    config_token, config.auth_token = config.auth_token, None
    if region is not None:
        config.region = region
    if credentials is not None:
        _add_secret(credentials[1])
    name = f"visdomkit-{port}-{uuid.uuid4().hex[:8]}"

    with _lock:
        running = process.is_process_running(config.ngrok_path)
        token = None if running else _resolve_token(authtoken, config_token, config, conf)
        try:
            if not running:
                with _token_in_environment(token):
                    ngrok.get_ngrok_process(config)
                _agents_we_started.add(config.ngrok_path)
            options: dict[str, Any] = {}
            if credentials is not None:
                pair = f"{credentials[0]}:{credentials[1]}"
                if getattr(config, "config_version", "2") == "3":
                    # pyngrok 9 targets ngrok endpoints, where basic auth is a traffic policy.
                    options["traffic_policy"] = {
                        "on_http_request": [
                            {"actions": [{"type": "basic-auth", "config": {"credentials": [pair]}}]}
                        ]
                    }
                else:
                    options["auth"] = pair  # v2 tunnels; pyngrok turns it into basic_auth
            ngrok_tunnel = ngrok.connect(
                local_url, "http", name=name, pyngrok_config=config, **options
            )
        except PyngrokError as e:
            if not running and not any(t._config.ngrok_path == config.ngrok_path for t in _open):
                with contextlib.suppress(Exception):  # don't leave an idle agent of ours behind
                    ngrok.kill(pyngrok_config=config)
                _agents_we_started.discard(config.ngrok_path)
            hint = ""
            if type(e).__name__ == "PyngrokNgrokInstallError":
                hint = (
                    " (pyngrok downloads the ngrok agent on first use; without internet access, "
                    "install it yourself and pass PyngrokConfig(ngrok_path=...) or set "
                    "PYNGROK_NGROK_PATH)"
                )
            raise TunnelError(f"ngrok could not publish {local_url}: {_scrub(e)}{hint}") from None
        public_url = ngrok_tunnel.public_url or ""
        if not public_url.startswith("https://"):
            with contextlib.suppress(Exception):
                ngrok.disconnect(public_url, pyngrok_config=config)
            raise TunnelError(f"ngrok returned {public_url!r}, not an https:// URL; closed it")
        tunnel = Tunnel(public_url, local_url, protection, config=config, name=name)
        _open.append(tunnel)
        _register_atexit()
    log.info("dashboard %s is public at %s (protection: %s)", local_url, public_url, protection)
    return tunnel


# -- arguments ---------------------------------------------------------------------------------


def _resolve_target(target: Any, login: bool | None) -> tuple[str, bool, int]:
    """(local URL, whether Visdom login is on, port) for a VisdomServer, a port or a URL."""
    from visdomkit.server import VisdomServer

    if isinstance(target, VisdomServer):
        if not target.running:
            raise ValueError(f"server_or_port: {target!r} is not running; start() it first")
        if login is not None and bool(login) != bool(target.login):
            raise ValueError(
                f"login={login!r} contradicts the server, which has login={target.login!r}"
            )
        return target.url, bool(target.login), int(target.port)
    if isinstance(target, int) and not isinstance(target, bool):
        if not 1 <= target <= 65535:
            raise ValueError(f"server_or_port: port must be in 1..65535, got {target!r}")
        return f"http://127.0.0.1:{target}", bool(login), target
    if isinstance(target, str):
        parts = urlsplit(target)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"server_or_port: expected a URL such as 'http://127.0.0.1:8097', got {target!r}"
            )
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return f"{parts.scheme}://{parts.netloc}", bool(login), port
    raise ValueError(
        f"server_or_port must be a VisdomServer, a port or a URL, got {type(target).__name__} "
        f"{target!r}"
    )


def _parse_auth(auth: Any) -> tuple[str, str] | None:
    """Validate ngrok basic-auth credentials; messages name the argument, never the password."""
    if auth is None:
        return None
    if isinstance(auth, str):
        user, sep, password = auth.partition(":")
        if not sep:
            raise ValueError("auth must be ('user', 'password') or 'user:password' (no ':' found)")
    elif (
        isinstance(auth, tuple | list) and len(auth) == 2 and all(isinstance(a, str) for a in auth)
    ):
        user, password = auth
    else:
        raise ValueError(
            f"auth must be ('user', 'password') or 'user:password', got a {type(auth).__name__}"
        )
    if not user or ":" in user:
        raise ValueError(f"auth user name must be non-empty and contain no ':', got {user!r}")
    if not 8 <= len(password) <= 128:
        raise ValueError(
            f"auth password must be 8 to 128 characters long (ngrok's rule), got {len(password)}"
        )
    return user, password


def _protection(has_login: bool, has_basic_auth: bool) -> str:
    parts = [p for p, on in (("visdom login", has_login), ("basic auth", has_basic_auth)) if on]
    return " + ".join(parts) or "none"


def _check_answers(local_url: str) -> None:
    try:
        requests.get(local_url, timeout=5)
    except requests.RequestException as e:
        raise ConnectionError(
            f"nothing answers at {local_url} ({type(e).__name__}); start the Visdom server first"
        ) from None


# -- the ngrok token ---------------------------------------------------------------------------


def _resolve_token(
    authtoken: str | None, config_token: str | None, config: PyngrokConfig, conf: Any
) -> str | None:
    """The token to hand to a new agent, or None when ngrok's own config file holds one."""
    for token in (authtoken, os.environ.get(TOKEN_ENV), config_token):
        if token:
            _add_secret(token)
            return token
    if _config_file_has_token(conf.get_config_path(config)):
        return None  # the agent reads it from the file the user wrote with `ngrok config`
    if _can_prompt():
        try:
            token = getpass.getpass(f"ngrok authtoken (input hidden; from {_TOKEN_HELP}): ")
        except (EOFError, NotImplementedError):  # ipykernel without stdin raises the latter
            token = ""
        token = token.strip()
        if token:
            _add_secret(token)
            return token
    raise TunnelError(
        f"no ngrok authtoken: set the {TOKEN_ENV} environment variable (your token is at "
        f"{_TOKEN_HELP}), or call expose() where it can prompt for it (a terminal or a notebook)"
    )


def _config_file_has_token(path: str) -> bool:
    try:
        import yaml

        with open(path) as f:
            data = yaml.safe_load(f) or {}
    except Exception:  # unreadable or not YAML: let the agent decide
        return False
    if not isinstance(data, dict):
        return False
    agent = data.get("agent") if isinstance(data.get("agent"), dict) else {}
    return bool(data.get("authtoken") or agent.get("authtoken"))


def _can_prompt() -> bool:
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if getattr(shell, "kernel", None) is not None:  # Jupyter and Colab forward getpass
        return True
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (OSError, ValueError):
        return False


@contextlib.contextmanager
def _token_in_environment(token: str | None) -> Iterator[None]:
    """Put the token in os.environ while pyngrok spawns the agent, which inherits it, then undo."""
    previous = os.environ.get(TOKEN_ENV)
    if token is None or previous == token:
        yield
        return
    os.environ[TOKEN_ENV] = token
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(TOKEN_ENV, None)
        else:
            os.environ[TOKEN_ENV] = previous


# -- secrets out of logs and errors ------------------------------------------------------------


class _ScrubSecrets(logging.Filter):
    """Replace known secrets in pyngrok's log records (it logs request bodies at DEBUG)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _secrets:
            message = record.getMessage()
            scrubbed = _scrub(message)
            if scrubbed != message:
                record.msg, record.args = scrubbed, ()
        return True


_filter = _ScrubSecrets()


def _add_secret(secret: str) -> None:
    if len(secret) >= 4:  # shorter strings would blank out ordinary words
        _secrets.add(secret)


def _scrub(text: object) -> str:
    text = str(text)
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _import_pyngrok() -> tuple[Any, Any, Any, type[Exception]]:
    try:
        from pyngrok import conf, ngrok, process
        from pyngrok.exception import PyngrokError
    except ImportError as e:
        raise ImportError(
            "expose() needs pyngrok: pip install pyngrok (or visdomkit[share])"
        ) from e
    for name in _PYNGROK_LOGGERS:  # logger filters only see records of that exact logger
        logger = logging.getLogger(name)
        if _filter not in logger.filters:
            logger.addFilter(_filter)
    return ngrok, process, conf, PyngrokError


# -- cleanup -----------------------------------------------------------------------------------


def _register_atexit() -> None:
    # (Re-)registered after pyngrok's own exit hook, which it adds each time it spawns an agent,
    # so this runs first: tunnels are deleted while the agent still answers, then it is stopped.
    atexit.unregister(close_all)
    atexit.register(close_all)


def close_all() -> None:
    """Close every tunnel that :func:`expose` opened in this process (runs at exit)."""
    for tunnel in list(_open):
        tunnel.close()
