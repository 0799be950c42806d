"""The Visdom server process that :class:`visdomkit.VisdomServer` launches.

Run as ``python -m visdomkit._server_main --port N ...``. Compared with ``python -m visdom.server``
it never downloads anything, binds where it is told (loopback by default), reports a busy port
with its own exit code, leaves when its parent dies (a restarted notebook kernel leaves no
orphan), and applies :func:`apply_tornado_shim` to this process only.
"""

from __future__ import annotations

import argparse
import base64
import errno
import hashlib
import logging
import os
import re
import signal
import sys
import threading
import time

EXIT_PORT_IN_USE = 3
log = logging.getLogger("visdomkit.server")


def apply_tornado_shim() -> None:
    """Let visdom's dashboard page render on tornado >= 6.5.

    visdom's ``index.html`` calls ``static_url("../user/style.css")`` (the user stylesheet is
    served by visdom's own ``/user/`` handler). Tornado 6.5 made ``static_url`` raise HTTP 403
    for any path outside ``static_path``, so the whole page answers 403. This handler class gives
    such paths an unversioned URL instead of raising. Serving is unchanged: requests for
    ``/static/../x`` are still refused by tornado's own checks.
    """
    import tornado.web
    from visdom.server import app as visdom_app

    class VisdomStaticFileHandler(tornado.web.StaticFileHandler):
        @classmethod
        def get_version(cls, settings, path):
            root = os.path.abspath(settings["static_path"])
            target = os.path.abspath(os.path.join(root, path))
            if os.path.commonpath([root, target]) != root:
                return None  # outside static_path: no version query, no 403
            return super().get_version(settings, path)

    visdom_app.tornado_settings["static_handler_class"] = VisdomStaticFileHandler
    # visdom switches tornado's debug mode on, which implies autoreload: a server that restarts
    # itself whenever a Python file changes. Not for a managed child process.
    visdom_app.tornado_settings["autoreload"] = False


# A 1×1 transparent PNG.
_FAVICON = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


def serve_favicon(app, base_url: str = "") -> None:
    """Answer the page's relative ``favicon.png`` link on every page.

    visdom's page links ``favicon.png`` relative to the page, so ``/env/NAME`` asks for
    ``/env/favicon.png``, which visdom's env handler answers with a 404 ("Environment
    'favicon.png' not found") that the browser logs as a console error on every dashboard.
    """
    import tornado.web
    from tornado.routing import PathMatches, Rule

    class FaviconHandler(tornado.web.RequestHandler):
        def get(self) -> None:
            self.set_header("Content-Type", "image/png")
            self.set_header("Cache-Control", "max-age=86400")
            self.write(_FAVICON)

    pattern = rf"{re.escape(base_url)}(?:/env|/compare)?/favicon\.png"
    router = app.wildcard_router
    router.rules.insert(0, router.process_rule(Rule(PathMatches(pattern), FaviconHandler)))


def _warn_if_assets_missing() -> None:
    from visdomkit import assets

    try:
        missing = assets.missing_files()
    except Exception as exc:  # a check must never stop the server from starting
        log.warning("could not check the dashboard files: %s", exc)
        return
    if missing:
        log.warning(
            "the dashboard will not render: %d of visdom's static files are missing (e.g. %s). "
            "The API works. Fix: %s",
            len(missing),
            missing[0],
            assets.INSTALL_HINT,
        )


def _login_credential(env_path: str) -> dict:
    """visdom's login settings, from environment variables (never from argv, which ps shows).

    visdom reads its cookie secret from ``DEFAULT_ENV_PATH + "COOKIE_SECRET"`` (the user's home);
    we point that at this server's env folder so each server keeps its own secret.
    """
    import secrets

    from visdom.server import app as visdom_app
    from visdom.utils.server_utils import hash_password

    username = os.environ.get("VISDOM_USERNAME")
    password = os.environ.get("VISDOM_PASSWORD")
    if not (username and password):
        raise SystemExit("--login needs $VISDOM_USERNAME and $VISDOM_PASSWORD")
    secret_file = os.path.join(env_path, "COOKIE_SECRET")
    if not os.path.isfile(secret_file):
        with open(os.open(secret_file, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(secrets.token_hex(32))
    visdom_app.DEFAULT_ENV_PATH = env_path
    client_hash = hashlib.sha256(password.encode("utf-8")).hexdigest()
    return {"username": username, "password": hash_password(client_hash)}


def _watch_parent(parent_pid: int, stop) -> None:
    # When the parent dies we are re-parented; covers SIGKILL of a notebook kernel, where no
    # atexit handler of the parent runs.
    while os.getppid() == parent_pid:
        time.sleep(0.5)
    log.warning("parent process %d is gone; stopping", parent_pid)
    stop()
    time.sleep(5)
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m visdomkit._server_main")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--env-path", required=True)
    parser.add_argument("--base-url", default="")
    parser.add_argument("--readonly", action="store_true")
    parser.add_argument(
        "--login",
        action="store_true",
        help="require a login; credentials from $VISDOM_USERNAME / $VISDOM_PASSWORD",
    )
    parser.add_argument("--parent-pid", type=int, default=None)
    parser.add_argument("--ready-file", default=None, help="written once the port is bound")
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    import tornado.httpserver
    import tornado.ioloop
    import tornado.netutil

    apply_tornado_shim()
    _warn_if_assets_missing()
    from visdom.server.app import Application

    env_path = os.path.join(os.path.abspath(args.env_path), "")
    os.makedirs(env_path, exist_ok=True)
    try:
        sockets = tornado.netutil.bind_sockets(args.port, address=args.host)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            print(f"port {args.port} on {args.host} is already in use", file=sys.stderr)
            return EXIT_PORT_IN_USE
        raise
    app = Application(
        port=args.port,
        base_url=args.base_url,
        env_path=env_path,
        readonly=args.readonly,
        user_credential=_login_credential(env_path) if args.login else None,
    )
    serve_favicon(app, args.base_url)
    server = tornado.httpserver.HTTPServer(app, max_buffer_size=1024**3)
    server.add_sockets(sockets)
    loop = tornado.ioloop.IOLoop.current()

    def stop() -> None:
        loop.add_callback(loop.stop)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.asyncio_loop.add_signal_handler(sig, loop.stop)
    if args.parent_pid:
        threading.Thread(target=_watch_parent, args=(args.parent_pid, stop), daemon=True).start()

    log.info("visdom serving %s on %s:%d", env_path, args.host, args.port)
    if args.ready_file:
        with open(args.ready_file, "w") as f:
            f.write(str(os.getpid()))
    loop.start()
    server.stop()
    storage = getattr(app, "storage", None)  # visdom >= 0.3 keeps envs in a store; persist it
    if storage is not None:
        storage.save_all(app.state)
    log.info("visdom server stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
