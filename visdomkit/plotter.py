"""LinePlotter: live curves from a hand-written training loop (stage 1)."""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from typing import Any

from visdomkit.transport import DEFAULT_MAX_POINTS, Transport


class LinePlotter:
    """One Visdom window per metric name, created on first use and appended to afterwards.

    Logging returns at once: points go to a background :class:`~visdomkit.transport.Transport`
    that batches them, journals them in ``run_dir`` and survives a server that is slow or down.

    Args:
        env: Visdom env to draw in.
        server: URL such as ``http://127.0.0.1:8097``, a :class:`~visdomkit.VisdomServer`, or
            ``None`` for ``$VISDOMKIT_SERVER`` / the default local server.
        xlabel: label of every window's x axis.
        transport: share an existing :class:`~visdomkit.transport.Transport` instead (then
            ``server``, ``run_dir`` and ``max_points`` are ignored).
        run_dir: folder for the journal of every point (default:
            :func:`visdomkit.transport.default_run_dir`).
        max_points: the most points a window shows; longer curves are decimated on the
            dashboard (the journal keeps them all).
        log_y: names of the metrics whose window gets a logarithmic y axis, e.g.
            ``{"learning_rate"}``: a learning rate of 1e-3 then reads 0.001 instead of a flat
            line at 0, and a decaying one is a straight line. On a log axis NaN, 0 and negative
            values are drawn as gaps (the journal keeps them). The axis is set when the window is
            created.

    Short series are drawn with a marker on every point (Plotly does so below 20 points), so a
    window with one point per epoch shows its first point at once.

    Example:
        >>> plotter = LinePlotter(env="mnist", server="http://127.0.0.1:8097",
        ...                       log_y={"learning_rate"})  # doctest: +SKIP
        >>> for epoch in range(3):  # doctest: +SKIP
        ...     plotter.log({"loss": 0.5 / (epoch + 1), "learning_rate": 1e-3}, step=epoch)
        >>> plotter.close()  # doctest: +SKIP
    """

    def __init__(
        self,
        env: str = "main",
        server: Any = None,
        *,
        xlabel: str = "epoch",
        transport: Transport | None = None,
        run_dir: str | os.PathLike[str] | None = None,
        max_points: int = DEFAULT_MAX_POINTS,
        log_y: Collection[str] = (),
    ) -> None:
        self.log_y = _check_log_y(log_y)
        self.transport = transport or Transport(server, env, run_dir=run_dir, max_points=max_points)
        self.xlabel = xlabel

    @property
    def env(self) -> str:
        """The Visdom env the windows are in."""
        return self.transport.env

    def log(self, metrics: Mapping[str, Any], step: float | None = None) -> None:
        """Queue one point per metric at x = ``step`` (``None``: the next x of each window).

        Values may be Python or numpy numbers or 1-element tensors; NaN/Inf show as gaps; a bad
        value (a string, ``None``, a tensor with several elements) is skipped with one warning
        per metric. A ``step`` at or before a window's last x replaces the points from that x on
        (a resumed run), so lines never zig-zag back.

        Example:
            >>> plotter.log({"loss": loss.detach(), "lr": 0.01}, step=epoch)  # doctest: +SKIP
        """
        if not self.log_y or self.log_y.isdisjoint(metrics):
            self.transport.log(metrics, x=step, xlabel=self.xlabel)
            return
        linear = {k: v for k, v in metrics.items() if k not in self.log_y}
        if linear:
            self.transport.log(linear, x=step, xlabel=self.xlabel)
        logged = {k: v for k, v in metrics.items() if k in self.log_y}
        self.transport.log(logged, x=step, xlabel=self.xlabel, ytype="log")

    def text(
        self,
        name: str,
        text: str,
        *,
        title: str | None = None,
        width: int | None = None,
        height: int | None = None,
    ) -> None:
        """Show ``text`` (HTML allowed) in pane ``name``, replacing what it showed before.

        ``width`` and ``height`` (pixels) size the pane when the page first shows it (see
        :meth:`Transport.text <visdomkit.transport.Transport.text>`).

        Example:
            >>> plotter.text("hparams", "<b>lr</b>: 0.01")  # doctest: +SKIP
        """
        self.transport.text(name, text, title=title, width=width, height=height)

    def window_id(self, name: str) -> str:
        """The Visdom window id used for metric ``name``."""
        return self.transport.window_id(name)

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until the server holds every point; ``False`` on timeout or if it is down."""
        return self.transport.flush(timeout)

    def close(self, timeout: float | None = 10.0) -> bool:
        """Flush and stop the transport's threads (logging again restarts them)."""
        return self.transport.close(timeout)

    def __enter__(self) -> LinePlotter:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


def _check_log_y(log_y: Any) -> frozenset[str]:
    """``log_y`` as a set of metric names, or ``TypeError`` naming the argument."""
    if isinstance(log_y, str | bytes) or not isinstance(log_y, Collection):
        raise TypeError(
            "log_y must be a collection of metric names such as {'learning_rate'}, "
            f"got {type(log_y).__name__} {log_y!r}"
        )
    for name in log_y:
        if not isinstance(name, str):
            raise TypeError(f"log_y must hold metric names (strings), got {name!r} in {log_y!r}")
        if not name:
            raise ValueError(f"log_y must hold non-empty metric names, got '' in {log_y!r}")
    return frozenset(log_y)
