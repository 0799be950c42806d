"""show() and expose() inside a real Jupyter kernel (ipykernel driven by jupyter_client).

What a notebook front end would receive is read from the kernel's messages: the IFrame that show()
returns, and, for expose(), the hidden-input request for the ngrok token and every output. The
ngrok agent behind pyngrok is the stand-in from tunnel_helpers/fake_ngrok.py.
"""

from __future__ import annotations

import json
import os
import sys
import uuid

import pytest
import requests
from tunnel_helpers.agent import FakeNgrok, gone, sha256

jupyter_client = pytest.importorskip("jupyter_client")  # the notebooks extra
pytest.importorskip("ipykernel")


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    return FakeNgrok(tmp_path_factory.mktemp("kernel-ngrok"))


@pytest.fixture(scope="module")
def kernel(tmp_path_factory, agent):
    """A kernel on this interpreter, with no NGROK_AUTHTOKEN in its environment."""
    from jupyter_client.manager import start_new_kernel

    # Our own kernelspec, so a user-level "python3" kernel on another interpreter is not picked.
    spec_dir = tmp_path_factory.mktemp("jupyter") / "kernels" / "visdomkit-test"
    spec_dir.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec = {"argv": argv, "display_name": "visdomkit test", "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    env = {k: v for k, v in os.environ.items() if k != "NGROK_AUTHTOKEN"}
    env["JUPYTER_PATH"] = str(spec_dir.parent.parent)
    env["FAKE_NGROK_EVENTS"] = str(agent.events_path)
    saved = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = env["JUPYTER_PATH"]  # read by the kernelspec lookup
    try:
        km, kc = start_new_kernel(kernel_name="visdomkit-test", startup_timeout=60, env=env)
    finally:
        if saved is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = saved
    yield kc
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def _run(kc, code: str, stdin_reply: str | None = None) -> tuple[list[dict], list[dict]]:
    """Execute code; answer one input request if asked. Returns (iopub messages, input requests)."""
    msg_id = kc.execute(code, allow_stdin=stdin_reply is not None)
    requests_seen = []
    if stdin_reply is not None:
        request = kc.get_stdin_msg(timeout=60)
        requests_seen.append(request["content"])
        kc.input(stdin_reply)
    messages = []
    while True:
        msg = kc.get_iopub_msg(timeout=60)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        messages.append({"msg_type": msg["msg_type"], "content": msg["content"]})
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return messages, requests_seen


def _stdout(messages: list[dict]) -> str:
    return "".join(
        m["content"]["text"]
        for m in messages
        if m["msg_type"] == "stream" and m["content"]["name"] == "stdout"
    )


def _errors(messages: list[dict]) -> list[dict]:
    return [m["content"] for m in messages if m["msg_type"] == "error"]


def test_show_in_jupyter_returns_an_iframe_of_the_env_page(kernel, visdom_server, viz, env_name):
    viz.text("hello", win="greeting")  # visdom 0.3.0 answers 404 for an env that does not exist
    code = (
        "from visdomkit.display import show\n"
        f"frame = show({visdom_server.url!r}, env={env_name!r}, height=450)\n"
        "print(type(frame).__name__, frame.src, frame.width, frame.height)\n"
        "frame\n"
    )
    messages, _ = _run(kernel, code)
    assert not _errors(messages), _errors(messages)
    src = f"{visdom_server.url}/env/{env_name}"
    assert _stdout(messages).split() == ["IFrame", src, "100%", "450"]
    (result,) = [m["content"] for m in messages if m["msg_type"] == "execute_result"]
    html = result["data"]["text/html"]
    assert "<iframe" in html and f'src="{src}"' in html and 'height="450"' in html
    assert requests.get(src, timeout=5).status_code == 200  # the frame shows a real page


def test_expose_asks_for_the_token_as_a_password_and_no_output_shows_it(
    kernel, agent, visdom_server
):
    token = f"vkfaketoken_{uuid.uuid4().hex}"
    code = (
        "from pyngrok.conf import PyngrokConfig\n"
        "from visdomkit.tunnel import expose\n"
        f"config = PyngrokConfig(ngrok_path={str(agent.path)!r}, "
        f"config_path={str(agent.config_path)!r})\n"
        f"tunnel = expose({visdom_server.port}, auth=('erin', 'pw-long-enough-2'), "
        "pyngrok_config=config)\n"
        "print('PUBLIC', tunnel.public_url)\n"
        "tunnel\n"
    )
    messages, asked = _run(kernel, code, stdin_reply=token)
    assert not _errors(messages), _errors(messages)
    assert len(asked) == 1 and asked[0]["password"] is True  # the front end masks the input
    assert "ngrok authtoken" in asked[0]["prompt"]
    assert "PUBLIC https://" in _stdout(messages)
    assert token not in json.dumps(messages)  # not in any output, display or result
    (start,) = agent.events("start")
    assert start["token_source"] == "env" and start["token_sha256"] == sha256(token)

    messages, _ = _run(kernel, "tunnel.close()\nimport os; print('NGROK_AUTHTOKEN' in os.environ)")
    assert _stdout(messages).split() == ["False"]
    assert len(agent.events("delete")) == 1
    assert gone(start["pid"])
