"""A stand-in for the ngrok v3 agent binary, the only stand-in in the test suite.

ngrok's cloud cannot be reached from the test machines, so pyngrok drives this script instead of
the real agent. It speaks the same two interfaces pyngrok uses, and nothing more:

* the command line: ``ngrok start --none --log stdout [--config F] [--authtoken T] [--region R]``
  starts the agent; ``ngrok --version`` prints a version; ``ngrok config add-authtoken T``
  (which would write the token into ngrok.yml) is recorded and refused.
* the logfmt lines on stdout that pyngrok parses (``starting web service ... addr=HOST:PORT``,
  ``client session established``, ``tunnel session started``), then the local agent API on that
  address: ``GET/POST /api/endpoints`` (v3 endpoints) and ``/api/tunnels`` (v2 tunnels),
  ``GET/DELETE /api/{endpoints,tunnels}/NAME``.

Like the real agent it takes its authtoken from ``--authtoken``, else ``$NGROK_AUTHTOKEN``, else the
config file, and fails at start without one (ERR_NGROK_4018). A token that does not look like an
ngrok token fails with ERR_NGROK_105, whose message echoes the token back, as the real agent's does.
It validates a new endpoint's body (upstream URL, basic-auth traffic policy: ``user:password``
with an 8 to 128 character password) and answers HTTP 400 otherwise. The public URL it hands out
(``https://<random>.ngrok-free.app``) does not resolve; nothing is forwarded.

If ``$FAKE_NGROK_EVENTS`` names a file, each event is appended to it as one JSON line, for the
tests to read: ``start`` (pid, argv with any token value replaced, whether a token was on the
command line, where the token came from and its SHA-256), ``create`` (name, upstream, SHA-256 of
each basic-auth credential), ``delete`` (name) and ``stop``. No secret is ever written in clear.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = "3.99.0-fake"
TOKEN_RE = re.compile(r"[A-Za-z0-9_]{20,}")
ENDPOINT_FIELDS = {"name", "url", "upstream", "traffic_policy", "description", "metadata"}
TUNNEL_FIELDS = {"name", "addr", "proto", "basic_auth", "schemes", "inspect", "metadata"}

_events_lock = threading.Lock()


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def record(event: str, **fields) -> None:
    path = os.environ.get("FAKE_NGROK_EVENTS")
    if not path:
        return
    with _events_lock, open(path, "a") as f:
        f.write(json.dumps({"event": event, "time": time.time(), **fields}) + "\n")


def log(lvl: str, msg: str, **fields) -> None:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    extra = "".join(f" {k}={json.dumps(v) if ' ' in str(v) else v}" for k, v in fields.items())
    sys.stdout.write(f't={stamp} lvl={lvl} msg="{msg}"{extra}\n')
    sys.stdout.flush()


def option(argv: list[str], name: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def token_from_config(path: str | None) -> str | None:
    if not path or not os.path.isfile(path):
        return None
    with open(path) as f:
        match = re.search(r"^\s*authtoken:\s*['\"]?([^'\"\s]+)", f.read(), re.MULTILINE)
    return match.group(1) if match else None


def basic_auth_credentials(body: dict) -> list[str]:
    """The ``user:password`` pairs a v3 traffic policy or v2 tunnel asks for; ValueError if bad."""
    creds: list[str] = []
    if "basic_auth" in body:
        creds = body["basic_auth"]
        if not isinstance(creds, list):
            raise ValueError("basic_auth must be a list of 'user:password' strings")
    policy = body.get("traffic_policy")
    if policy is not None:
        if not isinstance(policy, dict) or set(policy) - {"on_http_request", "on_http_response"}:
            raise ValueError("traffic_policy must map on_http_request/on_http_response to rules")
        for rule in policy.get("on_http_request", []):
            for action in rule.get("actions", []):
                if action.get("type") == "basic-auth":
                    creds = creds + list(action.get("config", {}).get("credentials", []))
    for cred in creds:
        user, sep, password = str(cred).partition(":")
        if not (sep and user and 8 <= len(password) <= 128):
            raise ValueError("basic auth credentials must be 'user:password', password 8-128 chars")
    return creds


class Agent:
    def __init__(self, token: str) -> None:
        self.token = token
        self.items: dict[str, dict] = {}  # name -> endpoint or tunnel
        self.lock = threading.Lock()

    def create(self, kind: str, body: dict) -> tuple[int, dict]:
        fields = ENDPOINT_FIELDS if kind == "endpoints" else TUNNEL_FIELDS
        unknown = set(body) - fields
        if unknown:
            return 400, error(f"unknown field(s) {sorted(unknown)} for {kind}")
        try:
            creds = basic_auth_credentials(body)
        except ValueError as e:
            return 400, error(str(e))
        upstream = body.get("upstream", {}).get("url") if kind == "endpoints" else body.get("addr")
        if not upstream or not str(upstream).startswith(("http://", "https://")):
            return 400, error(f"upstream must be an http(s) URL, got {upstream!r}")
        name = body.get("name") or str(uuid.uuid4())
        url = f"https://{uuid.uuid4().hex[:12]}.ngrok-free.app"
        item = {"name": name, "uri": f"/api/{kind}/{name}", "ID": uuid.uuid4().hex}
        if kind == "endpoints":
            item.update(url=url, upstream={"url": upstream})
        else:
            item.update(public_url=url, proto="https", config={"addr": upstream, "inspect": True})
        with self.lock:
            if name in self.items:
                return 400, error(f"a {kind[:-1]} named {name!r} already exists")
            self.items[name] = item
        record(
            "create",
            kind=kind,
            name=name,
            upstream=upstream,
            url=url,
            credentials_sha256=[sha(c) for c in creds],
        )
        log("info", "started tunnel", obj="tunnels", name=name, addr=upstream, url=url)
        return 201, item

    def delete(self, kind: str, name: str) -> tuple[int, dict | None]:
        with self.lock:
            item = self.items.pop(name, None)
        if item is None:
            return 404, error(f"no {kind[:-1]} named {name!r}")
        record("delete", kind=kind, name=name)
        return 204, None


def error(msg: str) -> dict:
    return {"error_code": 102, "status_code": 400, "msg": msg, "details": {}}


def make_handler(agent: Agent):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep stderr quiet
            pass

        def reply(self, status: int, body: dict | None) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def route(self) -> tuple[str | None, str | None]:
            match = re.fullmatch(r"/api/(endpoints|tunnels)(?:/([^/?]+))?/?", self.path)
            return (match.group(1), match.group(2)) if match else (None, None)

        def do_GET(self) -> None:
            kind, name = self.route()
            if kind is None:
                return self.reply(404, error("not found"))
            with agent.lock:
                items = [i for i in agent.items.values() if i["uri"].startswith(f"/api/{kind}/")]
            if name is None:
                return self.reply(200, {kind: items, "uri": f"/api/{kind}"})
            found = [i for i in items if i["name"] == name]
            return self.reply(200, found[0]) if found else self.reply(404, error("not found"))

        def do_POST(self) -> None:
            kind, name = self.route()
            if kind is None or name is not None:
                return self.reply(404, error("not found"))
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            except ValueError:
                return self.reply(400, error("body is not JSON"))
            self.reply(*agent.create(kind, body))

        def do_DELETE(self) -> None:
            kind, name = self.route()
            if kind is None or name is None:
                return self.reply(404, error("not found"))
            self.reply(*agent.delete(kind, name))

    return Handler


def start(argv: list[str]) -> int:
    if argv[:4] != ["start", "--none", "--log", "stdout"]:
        log("eror", "unexpected command line", err="expected 'start --none --log stdout ...'")
        return 1
    argv_token = option(argv, "--authtoken")
    config_path = option(argv, "--config")
    if argv_token is not None:
        token, source = argv_token, "argv"
    elif os.environ.get("NGROK_AUTHTOKEN"):
        token, source = os.environ["NGROK_AUTHTOKEN"], "env"
    else:
        token, source = token_from_config(config_path), "config"
    shown = [
        ("<token>" if prev == "--authtoken" else a)
        for prev, a in zip(["", *argv], argv, strict=False)
    ]
    record(
        "start",
        pid=os.getpid(),
        argv=shown,
        authtoken_in_argv=argv_token is not None,
        token_source=source if token else None,
        token_sha256=sha(token) if token else None,
        region=option(argv, "--region"),
    )
    log("info", "open config file", path=config_path or "default", err="nil")
    if not token:
        log(
            "eror",
            "failed to reconnect session",
            obj="tunnels.session",
            err="authentication failed: Usage of ngrok requires a verified account and authtoken."
            "\\n\\nERR_NGROK_4018",
        )
        return 1
    if not TOKEN_RE.fullmatch(token):
        # The real agent quotes the token it rejects in this message.
        log(
            "eror",
            "failed to reconnect session",
            obj="tunnels.session",
            err="The authtoken you specified does not look like a proper ngrok authtoken."
            f"\\nYour authtoken: {token}\\n\\nERR_NGROK_105",
        )
        return 1
    agent = Agent(token)
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(agent))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    log("info", "starting web service", obj="web", addr=f"{host}:{port}", allow_hosts="[]")
    log("info", "client session established", obj="tunnels.session")
    log("info", "tunnel session started", obj="tunnels.session")

    def on_term(*_):
        record("stop", pid=os.getpid())
        os._exit(0)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    while True:
        time.sleep(3600)


def main(argv: list[str]) -> int:
    if argv[:1] in (["--version"], ["version"]):
        print(f"ngrok version {VERSION}")
        return 0
    if argv[:2] == ["config", "add-authtoken"]:
        # pyngrok's set_auth_token() lands here; it would write the token to ngrok.yml.
        record("add-authtoken", pid=os.getpid())
        print("ERROR: the test stand-in refuses to save an authtoken to disk", file=sys.stderr)
        return 1
    if argv[:1] == ["start"]:
        return start(argv)
    print(f"ERROR: the test stand-in does not implement {argv[:2]}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
