"""show(): the dashboard of one env where the user works (script, Colab; Jupyter in a real kernel
is tests/test_display_kernel.py)."""

from __future__ import annotations

import sys
import types

import pytest
import requests

from visdomkit.display import show
from visdomkit.tunnel import Tunnel


def test_outside_a_notebook_returns_and_logs_the_env_url(visdom_server, caplog):
    caplog.set_level("INFO", logger="visdomkit")
    expected = f"{visdom_server.url}/env/my%20run%2F1"
    assert show(visdom_server, env="my run/1") == expected
    assert expected in caplog.text
    # A port or a URL name the same page; the page is really there.
    assert show(visdom_server.port, env="my run/1") == expected
    assert show(visdom_server.url + "/", env="my run/1") == expected
    assert requests.get(show(visdom_server), timeout=5).status_code == 200


def test_a_tunnel_is_shown_by_its_public_url():
    tunnel = Tunnel(
        "https://abc123.ngrok-free.app",
        "http://127.0.0.1:8097",
        "basic auth",
        config=None,
        name="t",
    )
    assert show(tunnel, env="run") == "https://abc123.ngrok-free.app/env/run"
    tunnel._closed = True  # a closed tunnel's URL leads nowhere
    with pytest.raises(ValueError, match="closed"):
        show(tunnel)


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        (("http://127.0.0.1:8097",), {"env": ""}, "env must be a non-empty string"),
        (("http://127.0.0.1:8097",), {"height": 0}, "height must be"),
        (("http://127.0.0.1:8097",), {"width": None}, "width must be"),
        (("not a url",), {}, "target: expected a URL"),
        ((70000,), {}, "target: port must be in 1..65535"),
        ((3.5,), {}, "target must be a VisdomServer, a Tunnel, a port or a URL"),
    ],
)
def test_bad_arguments_are_named(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        show(*args, **kwargs)


def test_in_colab_a_local_server_goes_through_the_port_proxy(visdom_server, monkeypatch):
    """Checks only our branching for Colab: Colab is not run here.

    A stand-in ``google.colab.output`` module records the call that Colab's real
    ``serve_kernel_port_as_iframe(port, path=..., width=..., height=...)`` would receive.
    """
    calls = []
    google = types.ModuleType("google")
    colab = types.ModuleType("google.colab")
    output = types.ModuleType("google.colab.output")
    output.serve_kernel_port_as_iframe = lambda port, **kw: calls.append((port, kw))
    google.colab, colab.output = colab, output
    for name, module in (
        ("google", google),
        ("google.colab", colab),
        ("google.colab.output", output),
    ):
        monkeypatch.setitem(sys.modules, name, module)

    assert show(visdom_server, env="my run", height=500) is None
    assert calls == [
        (visdom_server.port, {"path": "/env/my%20run", "width": "100%", "height": 500})
    ]
    # A public URL needs no proxy: it is shown directly (here, outside a kernel, returned).
    assert show("https://abc123.ngrok-free.app", env="x") == "https://abc123.ngrok-free.app/env/x"
    assert len(calls) == 1
