"""Command line: ``python -m visdomkit demo | serve | assets | replay | bench | screenshot``."""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
import threading
from pathlib import Path

BENCHMARKS = ("transport", "hooks")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m visdomkit",
        description="Live Visdom dashboards for PyTorch and Lightning training.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="train the MNIST CNN and fill a 15-plot dashboard",
        description=(
            "Start a local Visdom server (or use --server) and, in one env, train SimpleCNN on "
            "MNIST with a hand-written loop (loss, accuracy, learning rate per epoch), then "
            "through Lightning with VisdomLogger (train_loss, val_acc, epoch) and "
            "GradientNormLogger (one window per parameter and the total): 15 plots. "
            "Prints the dashboard URL and keeps serving until Ctrl-C, or exits with --exit."
        ),
    )
    demo.add_argument("--server", help="use this running server (URL) instead of starting one")
    demo.add_argument("--port", type=int, help="port for the local server (default 8097 or next)")
    demo.add_argument("--env", default="visdomkit_demo", help="Visdom env (default: %(default)s)")
    demo.add_argument("--epochs", type=int, default=None, help="epochs per stage (3, fast: 2)")
    demo.add_argument(
        "--fast", action="store_true", help="1,024 train / 512 validation digits, 2 epochs"
    )
    demo.add_argument("--exit", action="store_true", help="exit when training is done")
    demo.add_argument("--env-path", help="folder for the local server's envs")
    demo.add_argument("--run-dir", default="runs", help="Lightning run folder (default: runs)")
    demo.add_argument(
        "--stages",
        default="1,3,4",
        help="comma-separated stages: 1 (loop), 3 (Lightning), 4 (gradient norms; needs 3)",
    )

    serve = sub.add_parser("serve", help="run a local Visdom server until Ctrl-C")
    serve.add_argument("--port", type=int, help="port (default 8097, or the next free one)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    serve.add_argument("--env-path", help="folder for envs (default ~/.visdomkit/envs)")
    serve.add_argument(
        "--login",
        action="store_true",
        help="require a login ($VISDOM_USERNAME / $VISDOM_PASSWORD)",
    )

    assets = sub.add_parser("assets", help="install visdom's dashboard files without a CDN")
    assets_sub = assets.add_subparsers(dest="assets_command", required=True, metavar="ACTION")
    install = assets_sub.add_parser("install", help="from the npm registry, or from a bundle")
    install.add_argument("--bundle", help="a .tar.gz written by `assets bundle`")
    install.add_argument("--force", action="store_true", help="reinstall even if it verifies")
    bundle = assets_sub.add_parser("bundle", help="write the files to a .tar.gz for offline hosts")
    bundle.add_argument("out", help="output file, e.g. visdom-assets.tar.gz")
    assets_sub.add_parser("verify", help="check the installed files")

    replay = sub.add_parser("replay", help="upload a run's journal to a server")
    replay.add_argument("journal", help="journal file written by the transport")
    replay.add_argument("--server", help="server URL (default $VISDOMKIT_SERVER or local 8097)")
    replay.add_argument("--env", help="upload into this env instead of the journal's")

    bench = sub.add_parser("bench", help="run a benchmark and print its table")
    bench.add_argument("name", choices=BENCHMARKS)
    bench.add_argument("args", nargs=argparse.REMAINDER, help="options of that benchmark")

    from visdomkit import screenshot  # cheap: Playwright is imported only when a browser opens

    screenshot.add_arguments(
        sub.add_parser(
            "screenshot",
            help="run the demo and save the README's dashboard pictures (images/1-3.png)",
            description=(
                "Run the demo on a fresh local server and save pictures of the dashboard as "
                "headless Chromium shows it: 1.png after stage 1 (3 plots), 2.png after stage 3 "
                "(6 plots), 3.png after the whole demo (15 plots). Needs Playwright for Python "
                "and a Chromium (Debian: apt-get install chromium)."
            ),
        )
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Our own messages at INFO; other libraries (Lightning logs through its own handler) as
    # they configure themselves.
    ours = logging.getLogger("visdomkit")
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    ours.addHandler(handler)
    ours.setLevel(logging.DEBUG if args.verbose else logging.INFO)
    ours.propagate = False
    command = {
        "demo": _demo,
        "serve": _serve,
        "assets": _assets,
        "replay": _replay,
        "bench": _bench,
        "screenshot": _screenshot,
    }[args.command]
    return command(args)


def _server(args):
    from visdomkit.server import VisdomServer

    return VisdomServer(port=args.port, env_path=args.env_path or None)


def _wait_for_ctrl_c() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass


def _demo(args) -> int:
    from visdomkit.demo import run_demo

    epochs = args.epochs if args.epochs is not None else (2 if args.fast else 3)
    stages = tuple(s.strip() for s in args.stages.split(",") if s.strip())
    server = None
    if args.server is None:
        server = _server(args).start()
        print(f"Visdom server: {server.url} (log: {server.log_path})")
    target = args.server or server
    url = getattr(target, "url", target)
    print(f"Dashboard: {url.rstrip('/')}/env/{args.env}", flush=True)
    try:
        result = run_demo(
            target,
            env=args.env,
            epochs=epochs,
            fast=args.fast,
            run_dir=args.run_dir,
            progress=sys.stderr.isatty(),
            stages=stages,
        )
        print(f"Data: {result.data_description}")
        print(
            f"Training done in {result.seconds:.0f} s. Dashboard: {url.rstrip('/')}/env/{args.env}"
        )
        if server is not None and not args.exit:
            print("Serving until Ctrl-C.", flush=True)
            _wait_for_ctrl_c()
    finally:
        if server is not None:
            server.stop()
    return 0


def _serve(args) -> int:
    from visdomkit.server import VisdomServer

    with VisdomServer(
        port=args.port, host=args.host, env_path=args.env_path or None, login=args.login or None
    ) as server:
        print(f"Visdom server: {server.url} (envs: {server.env_path}, log: {server.log_path})")
        print("Ctrl-C to stop.", flush=True)
        _wait_for_ctrl_c()
    return 0


def _assets(args) -> int:
    from visdomkit import assets

    try:
        if args.assets_command == "install":
            written = assets.install(args.bundle, force=args.force)
            where = assets.visdom_dir() / "static"
            if written:
                print(f"installed {len(written)} files into {where}")
            else:
                print(f"already installed and verified in {where}")
        elif args.assets_command == "bundle":
            out = assets.make_bundle(args.out)
            print(f"wrote {out} ({Path(out).stat().st_size // 1024} KiB)")
        else:
            problems = assets.verify()
            for problem in problems:
                print(problem)
            if problems:
                print(f"fix: {assets.INSTALL_HINT}")
                return 1
            print("dashboard files verified")
    except assets.AssetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _replay(args) -> int:
    from visdomkit.journal import replay

    summary = replay(args.journal, server=args.server, env=args.env)
    print(summary)
    return 0


def _bench(args) -> int:
    module = importlib.import_module(f"visdomkit.bench.{args.name}")
    return module.main(args.args)


def _screenshot(args) -> int:
    from visdomkit.screenshot import run

    return run(args)
