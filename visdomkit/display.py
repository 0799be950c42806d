"""Show a Visdom dashboard inside a notebook: an IFrame in Jupyter, Colab's port proxy in Colab."""

from __future__ import annotations

import logging
import sys
from typing import Any
from urllib.parse import quote, urlsplit

log = logging.getLogger("visdomkit")

_LOOPBACK = {"127.0.0.1", "localhost", "0.0.0.0", "::1", "::"}


def show(
    target: Any,
    env: str = "main",
    *,
    height: int | str = 600,
    width: int | str = "100%",
) -> Any:
    """Display one Visdom env's dashboard where you are working.

    - In **Colab**, a local server (a VisdomServer, a port or a loopback URL) is shown through
      Colab's port proxy (``google.colab.output.serve_kernel_port_as_iframe``): the browser cannot
      reach the Colab VM's ``127.0.0.1``, the proxy can.
    - In **Jupyter** (any IPython kernel), returns an ``IPython.display.IFrame`` of the env's page;
      it renders when it is the cell's last expression (or pass it to ``display()``).
    - Elsewhere (a script, a terminal), logs the URL and returns it.

    Visdom 0.3.0 answers 404 for an env that has no window yet; show it once something was
    logged to it (or show ``env="main"``), and re-run the cell if it was too early.

    A :class:`~visdomkit.tunnel.Tunnel` from :func:`~visdomkit.expose` (or any public URL) is shown
    as a plain IFrame everywhere, which also works when the notebook's browser is not on the
    machine that runs the server (JupyterHub, a remote kernel).

    Args:
        target: a running :class:`~visdomkit.VisdomServer`, a :class:`~visdomkit.tunnel.Tunnel`,
            a port, or a URL such as ``"http://127.0.0.1:8097"``.
        env: the Visdom env to open.
        height: frame height in pixels (or a CSS length string).
        width: frame width in pixels or a CSS length such as ``"100%"``.

    Returns:
        The IFrame in Jupyter, ``None`` in Colab (the frame is already displayed), the URL
        elsewhere.

    Example:
        >>> from visdomkit import VisdomServer, show
        >>> server = VisdomServer().start()  # doctest: +SKIP
        >>> show(server, env="my_run")  # last line of a notebook cell  # doctest: +SKIP
    """
    if not isinstance(env, str) or not env:
        raise ValueError(f"env must be a non-empty string, got {env!r}")
    for name, value in (("height", height), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, (int, str)) or value in (0, ""):
            raise ValueError(f"{name} must be pixels (int > 0) or a CSS length, got {value!r}")
    base, local_port = _resolve(target)
    path = f"/env/{quote(env, safe='')}"

    if local_port is not None and "google.colab" in sys.modules:
        from google.colab import output  # only importable inside Colab

        output.serve_kernel_port_as_iframe(local_port, path=path, width=width, height=height)
        log.info("showing Visdom env %r on port %d through Colab's port proxy", env, local_port)
        return None
    url = base + path
    if _in_kernel():
        from IPython.display import IFrame

        return IFrame(url, width=width, height=height)
    log.info("Visdom dashboard for env %r: %s", env, url)
    return url


def _resolve(target: Any) -> tuple[str, int | None]:
    """(base URL, local port or None when the URL is public) for what show() accepts."""
    from visdomkit.server import VisdomServer

    if isinstance(target, VisdomServer):
        if not target.running:
            raise ValueError(f"target: {target!r} is not running; start() it first")
        return target.url, target.port
    public_url = getattr(target, "public_url", None)
    if isinstance(public_url, str):  # a Tunnel, or anything with a public URL
        if getattr(target, "closed", False):
            raise ValueError(f"target: {target!r} is closed")
        return public_url.rstrip("/"), None
    if isinstance(target, int) and not isinstance(target, bool):
        if not 1 <= target <= 65535:
            raise ValueError(f"target: port must be in 1..65535, got {target!r}")
        return f"http://127.0.0.1:{target}", target
    if isinstance(target, str):
        parts = urlsplit(target)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"target: expected a URL such as 'http://127.0.0.1:8097', got {target!r}"
            )
        base = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return base, port if parts.hostname in _LOOPBACK else None
    raise ValueError(
        f"target must be a VisdomServer, a Tunnel, a port or a URL, got {type(target).__name__}"
    )


def _in_kernel() -> bool:
    """True inside a Jupyter/IPython kernel (whose front end renders HTML), not terminal IPython."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "kernel", None) is not None
