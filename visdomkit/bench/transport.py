"""``python -m visdomkit bench transport``: what logging costs the training loop, and whether every
point arrives.

1. Caller-thread time to log one 15-metric step with the server up, slow (a loopback proxy that
   delays every request) and down (the proxy refuses connections), for visdomkit's LinePlotter,
   the seed-style loop (one blocking ``viz.line(update="append")`` per metric) and
   pytorch-ignite's ``VisdomLogger`` (when installed). All three talk through the same proxy;
   rounds are interleaved and their order rotates, so a noisy neighbour hits all of them.
2. N steps x 15 metrics with the server up: every point is in the journal, the last point is
   visible on the server soon after the last step, and no window exceeds the cap.
3. The same with the server killed (SIGKILL) at 25 % of the run and restarted at 50 %.

Between two steps the loop sleeps ``--compute-ms`` (a stand-in for the forward/backward pass,
which releases the GIL). Prints a plain-text table; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import select
import signal
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

METRICS = 15


# -- a loopback proxy that can be slow or down ------------------------------------------------


class SlowProxy:
    """A loopback TCP forwarder in front of a local port: adds a delay, refuses connections
    (:meth:`down`), or answers every request with an error status (``error_status``).

    Args:
        target_port: the port to forward to on 127.0.0.1.
        delay: seconds added before each chunk a client sends is forwarded.
        port: port to listen on (``None``: any free port); kept across :meth:`down`/:meth:`up`.

    Example:
        >>> with SlowProxy(8097, delay=0.1) as proxy:  # doctest: +SKIP
        ...     requests.get(proxy.url)  # answered ~0.1 s later
        >>> proxy.down(); proxy.up()  # doctest: +SKIP
    """

    def __init__(self, target_port: int, *, delay: float = 0.0, port: int | None = None) -> None:
        self.target_port = target_port
        self.delay = delay
        self.error_status: int | None = None  # answer every request with this HTTP status
        self.port = port or 0
        self._listener: socket.socket | None = None
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self) -> SlowProxy:
        """Listen (again) on the same port."""
        if self._listener is not None:
            return self
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def down(self) -> None:
        """Stop listening and cut every open connection: clients see 'connection refused'."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with self._lock:
            conns, self._conns = self._conns, set()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def __enter__(self) -> SlowProxy:
        return self.up()

    def __exit__(self, *exc_info: Any) -> None:
        self.down()

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if self.error_status is not None:
                threading.Thread(target=self._answer_error, args=(client,), daemon=True).start()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            for sock in (client, upstream):  # no Nagle: small writes must not wait for an ACK
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._conns |= {client, upstream}
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _answer_error(self, client: socket.socket) -> None:
        with contextlib.suppress(OSError), client:
            client.settimeout(5)
            client.recv(1 << 16)
            client.sendall(
                f"HTTP/1.1 {self.error_status} Error\r\nContent-Length: 0\r\n"
                "Connection: close\r\n\r\n".encode()
            )

    def _pump(self, src: socket.socket, dst: socket.socket, delayed: bool) -> None:
        try:
            while True:
                select.select([src], [], [])
                chunk = src.recv(1 << 16)
                if not chunk:
                    break
                if delayed and self.delay:
                    time.sleep(self.delay)
                dst.sendall(chunk)
        except (OSError, ValueError):
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            with self._lock:
                self._conns -= {src, dst}


# -- the three loggers ------------------------------------------------------------------------


class _Visdomkit:
    name = "visdomkit LinePlotter.log"
    max_steps = 2000
    errors = 0  # logging calls that raised or printed an error

    def __init__(self, url: str, env: str, run_dir: Path) -> None:
        from visdomkit.plotter import LinePlotter

        self.plotter = LinePlotter(env=env, server=url, xlabel="step", run_dir=run_dir)

    def step(self, i: int, metrics: dict[str, float]) -> None:
        self.plotter.log(metrics, step=i)

    def close(self) -> None:
        self.plotter.transport.close(timeout=30)


class _Seed:
    name = "seed: 15 x viz.line (blocking)"
    max_steps = 200
    errors = 0

    def __init__(self, url: str, env: str, run_dir: Path) -> None:
        import visdom

        host, port = url.rsplit(":", 1)
        self.env = env
        with contextlib.redirect_stdout(io.StringIO()):
            self.viz = visdom.Visdom(
                server=host, port=int(port), env=env, use_incoming_socket=False
            )

    def step(self, i: int, metrics: dict[str, float]) -> None:
        import numpy as np

        # the client prints a traceback per failed call: count those steps, keep the table clean
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            for name, value in metrics.items():
                try:
                    self.viz.line(
                        Y=np.array([value]),
                        X=np.array([i]),
                        win=name,
                        update="append",
                        opts={"title": name},
                    )
                except Exception:
                    printed.write("raised")
        self.errors += bool(printed.getvalue())

    def close(self) -> None:
        pass


class _Ignite:
    name = "pytorch-ignite VisdomLogger"
    max_steps = 500
    errors = 0

    def __init__(self, url: str, env: str, run_dir: Path) -> None:
        from ignite.engine import Engine, Events
        from ignite.handlers.visdom_logger import OutputHandler, VisdomLogger

        host, port = url.rsplit(":", 1)
        with contextlib.redirect_stdout(io.StringIO()):
            self.logger = VisdomLogger(
                server=host, port=int(port), env=env, use_incoming_socket=False
            )
        self.engine = Engine(lambda engine, batch: None)
        self.event = Events.ITERATION_COMPLETED
        self.handler = OutputHandler(
            tag="train",
            output_transform=lambda output: output,
            global_step_transform=lambda engine, event: engine.state.iteration,
        )

    def step(self, i: int, metrics: dict[str, float]) -> None:
        self.engine.state.iteration = i
        self.engine.state.output = metrics
        # ignite raises when the server is down (raise_exceptions=True): count, keep measuring
        try:
            self.handler(self.engine, self.logger, self.event)
        except Exception:
            self.errors += 1

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.logger.executor.shutdown(wait=False, cancel_futures=True)


# -- measurement helpers ----------------------------------------------------------------------


def _metrics(i: int) -> dict[str, float]:
    return {f"metric_{k:02d}": 1.0 / (i + 1) + k for k in range(METRICS)}


def _timed_steps(
    step: Callable[[int, dict[str, float]], None],
    start: int,
    budget_s: float,
    max_steps: int,
    compute_s: float,
) -> list[float]:
    times: list[float] = []
    until = time.monotonic() + budget_s
    i = start
    while len(times) < 3 or (time.monotonic() < until and len(times) < max_steps):
        metrics = _metrics(i)
        t0 = time.perf_counter()
        step(i, metrics)
        times.append(time.perf_counter() - t0)
        i += 1
        time.sleep(compute_s)
    return times


def _fmt(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


# -- part 1 -----------------------------------------------------------------------------------


def _part1(args, server, workdir: Path, out: list[str]) -> None:
    kinds = [_Visdomkit, _Seed]
    try:
        import ignite  # noqa: F401

        kinds.append(_Ignite)
    except ImportError:
        out.append("(pytorch-ignite not installed: its row is left out)")
    run = os.getpid()
    with SlowProxy(server.port) as proxy:
        loggers = [
            k(proxy.url, f"bench_{k.__name__.strip('_').lower()}_{run}", workdir) for k in kinds
        ]
        rows = []
        for condition in ("up", "slow", "down"):
            if condition == "slow":
                proxy.delay = args.delay_ms / 1000
            if condition == "down":
                proxy.down()
            times: dict[str, list[float]] = {lg.name: [] for lg in loggers}
            rounds: dict[str, list[float]] = {lg.name: [] for lg in loggers}
            next_step = dict.fromkeys(times, 0)
            for r in range(args.rounds):
                order = loggers[r % len(loggers) :] + loggers[: r % len(loggers)]
                for lg in order:
                    ts = _timed_steps(
                        lg.step,
                        next_step[lg.name] + 100_000 * ("up", "slow", "down").index(condition),
                        args.round_s,
                        lg.max_steps,
                        args.compute_ms / 1000,
                    )
                    next_step[lg.name] += len(ts)
                    times[lg.name] += ts
                    rounds[lg.name].append(statistics.median(ts))
            for lg in loggers:
                ts, meds = times[lg.name], rounds[lg.name]
                rows.append(
                    (
                        condition,
                        lg.name,
                        str(len(ts)),
                        _fmt(statistics.median(ts)),
                        _fmt(_p99(ts)),
                        f"{_fmt(min(meds))} – {_fmt(max(meds))}",
                        str(lg.errors),
                    )
                )
                lg.errors = 0
            proxy.delay = 0.0
        proxy.up()
        for lg in loggers:
            lg.close()
    header = ("server", "logger", "steps", "median", "p99", "round medians (min-max)", "errors")
    out.append(
        f"1. Caller-thread time per {METRICS}-metric step ({args.rounds} interleaved rounds of "
        f"~{args.round_s:g} s per logger and condition; slow = +{args.delay_ms:g} ms per request "
        "through a loopback proxy; down = proxy refuses connections; errors = steps whose "
        "logging call raised or printed an error)"
    )
    out.extend(_table(header, rows))


# -- parts 2 and 3 ----------------------------------------------------------------------------


def _last_points(url: str, env: str, wins: list[str]) -> dict[str, tuple[float | None, int]]:
    from visdomkit import wire

    http = wire.VisdomHTTP(url, timeout=(1, 30))
    seen = {}
    try:
        for win in wins:
            pane = http.window_data(env, win)
            if pane is None:
                seen[win] = (None, 0)
                continue
            xs = pane["content"]["data"][0]["x"]
            seen[win] = (xs[-1] if xs else None, len(xs))
    finally:
        http.close()
    return seen


def _long_run(args, server_port: int, env_path: Path, workdir: Path, outage: bool) -> dict:
    from visdomkit.journal import read_journal
    from visdomkit.server import VisdomServer
    from visdomkit.transport import DEFAULT_MAX_POINTS, Transport, window_id
    from visdomkit.wire import VisdomHTTP

    steps = args.steps
    env = f"bench_long_{'outage' if outage else 'up'}_{os.getpid()}"
    names = list(_metrics(0))
    wins = [window_id(n) for n in names]
    server = VisdomServer(port=server_port, env_path=env_path).start()
    url = server.url
    transport = Transport(url, env, run_dir=workdir / env)
    times: list[float] = []
    restarter: threading.Thread | None = None
    holder = {"server": server}
    compute_s = args.compute_ms / 1000
    try:
        for i in range(steps):
            if outage and i == steps // 4:
                os.killpg(holder["server"].pid, signal.SIGKILL)
                holder["server"].stop()
            if outage and i == steps // 2:

                def restart() -> None:
                    holder["server"] = VisdomServer(port=server_port, env_path=env_path).start()

                restarter = threading.Thread(target=restart, daemon=True)
                restarter.start()
            metrics = _metrics(i)
            t0 = time.perf_counter()
            transport.log(metrics, x=i)
            times.append(time.perf_counter() - t0)
            time.sleep(compute_s)
        last_step = time.monotonic()
        if restarter is not None:
            restarter.join()
        # when does the last point show up on the server? (poll what it holds)
        visible_after = None
        while time.monotonic() - last_step < args.visible_timeout:
            seen = _last_points(url, env, wins)
            if all(x == steps - 1 for x, _ in seen.values()):
                visible_after = time.monotonic() - last_step
                break
            time.sleep(0.2)
        transport.close(timeout=60)
        seen = _last_points(url, env, wins)
        content = read_journal(transport.journal_path)
        complete = all(
            list(content.windows[env][w].series[n].xs) == [float(s) for s in range(steps)]
            for n, w in zip(names, wins, strict=True)
        )
        outage_pts = None
        if outage:
            http = VisdomHTTP(url)
            counts = []
            for w in wins:
                xs = http.window_data(env, w)["content"]["data"][0]["x"]
                counts.append(sum(steps // 4 <= x < steps // 2 for x in xs))
            http.close()
            outage_pts = min(counts)
        return {
            "steps": steps,
            "points": steps * METRICS,
            "journal": content.points,
            "complete": complete,
            "visible_after": visible_after,
            "max_shown": max(n for _, n in seen.values()),
            "cap": DEFAULT_MAX_POINTS,
            "last_ok": all(x == steps - 1 for x, _ in seen.values()),
            "median": statistics.median(times),
            "p99": _p99(times),
            "max": max(times),
            "outage_pts": outage_pts,
            "stats": transport.stats,
        }
    finally:
        holder["server"].stop()


def _part23(args, workdir: Path, out: list[str]) -> None:
    from visdomkit.server import VisdomServer

    env_path = workdir / "envs-long"
    probe = VisdomServer(env_path=env_path).start()  # finds a free port we can restart on
    port = probe.port
    probe.stop()
    for outage in (False, True):
        r = _long_run(args, port, env_path, workdir, outage)
        title = (
            f"3. {r['steps']:,} steps x {METRICS} metrics, server SIGKILLed at step "
            f"{r['steps'] // 4:,} and restarted at step {r['steps'] // 2:,}"
            if outage
            else f"2. {r['steps']:,} steps x {METRICS} metrics, server up"
        )
        visible = f"not within {args.visible_timeout:g} s"
        if r["visible_after"] is not None:
            visible = f"{r['visible_after']:.1f} s"
        rows = [
            ("points logged", f"{r['points']:,}"),
            (
                "points in the journal",
                f"{r['journal']:,} (every x of every metric: {r['complete']})",
            ),
            ("lost", f"{r['points'] - r['journal']:,}"),
            ("last point visible on the server after the last step", visible),
            ("last point of every window on the server", str(r["last_ok"])),
            ("largest window on the server / cap", f"{r['max_shown']:,} / {r['cap']:,}"),
            (
                "caller time per step: median / p99 / max",
                f"{_fmt(r['median'])} / {_fmt(r['p99'])} / {_fmt(r['max'])}",
            ),
            (
                "requests / rewrites / decimations / failures",
                f"{r['stats'].requests} / {r['stats'].rewrites} / {r['stats'].decimations} / "
                f"{r['stats'].failures}",
            ),
        ]
        if outage:
            rows.append(
                (
                    "points shown from the outage (fewest of any window)",
                    f"{r['outage_pts']:,} (after decimation)",
                )
            )
        out.append("")
        out.append(title)
        out.extend(_table(("", ""), rows, show_header=False))


def _table(header: tuple, rows: list[tuple], show_header: bool = True) -> list[str]:
    cells = ([header] if show_header else []) + rows
    widths = [max(len(str(r[c])) for r in cells) for c in range(len(header))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
        if show_header and n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its table.

    Args:
        argv: command-line options (see ``--help``).

    Returns:
        0.

    Example:
        >>> main(["--quick"])  # doctest: +SKIP
    """
    parser = argparse.ArgumentParser(
        prog="python -m visdomkit bench transport", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--steps", type=int, default=20_000, help="steps of parts 2 and 3")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds in part 1")
    parser.add_argument("--round-s", type=float, default=2.0, help="seconds per logger per round")
    parser.add_argument("--delay-ms", type=float, default=100.0, help="proxy delay when 'slow'")
    parser.add_argument("--compute-ms", type=float, default=1.0, help="sleep between steps")
    parser.add_argument("--visible-timeout", type=float, default=60.0)
    parser.add_argument("--quick", action="store_true", help="2,000 steps, 2 short rounds")
    parser.add_argument("--skip", choices=["1", "23"], help="skip part 1, or parts 2 and 3")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.rounds, args.round_s = 2_000, 2, 1.0
    logging.getLogger("visdom").setLevel(logging.CRITICAL)  # the clients we compare against
    out = [
        f"visdomkit transport benchmark: {METRICS} metrics per step, {args.compute_ms:g} ms of "
        f"simulated compute (sleep) between steps, {os.cpu_count()} CPUs",
        "",
    ]
    from visdomkit.server import VisdomServer

    # the clients we compare against print from their worker threads too; the table is printed
    # at the end
    with (
        tempfile.TemporaryDirectory(prefix="visdomkit-bench-") as tmp,
        contextlib.redirect_stdout(io.StringIO()),
    ):
        workdir = Path(tmp)
        if args.skip != "1":
            with VisdomServer(env_path=workdir / "envs") as server:
                _part1(args, server, workdir, out)
        if args.skip != "23":
            _part23(args, workdir, out)
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
