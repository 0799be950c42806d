"""LinePlotter: live curves from a hand-written training loop (stage 1)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from visdomkit.transport import Transport


class LinePlotter:
    """One Visdom window per metric name, created on first use and appended to afterwards.

    Args:
        env: Visdom env to draw in.
        server: URL such as ``http://127.0.0.1:8097``, a :class:`~visdomkit.VisdomServer`, or
            ``None`` for ``$VISDOMKIT_SERVER`` / the default local server.
        xlabel: label of every window's x axis.
        transport: share an existing :class:`~visdomkit.transport.Transport` instead.

    Example:
        >>> plotter = LinePlotter(env="mnist", server="http://127.0.0.1:8097")  # doctest: +SKIP
        >>> for epoch in range(3):  # doctest: +SKIP
        ...     plotter.log({"loss": 0.5 / (epoch + 1), "accuracy": 0.9}, step=epoch)
        >>> plotter.close()  # doctest: +SKIP
    """

    def __init__(
        self,
        env: str = "main",
        server: Any = None,
        *,
        xlabel: str = "epoch",
        transport: Transport | None = None,
    ) -> None:
        self.transport = transport or Transport(server, env)
        self.xlabel = xlabel

    @property
    def env(self) -> str:
        return self.transport.env

    def log(self, metrics: Mapping[str, Any], step: float | None = None) -> None:
        """Queue one point per metric at x = ``step`` (``None``: the next x of each window)."""
        for name, value in metrics.items():
            self.transport.append(name, step, value, xlabel=self.xlabel, ylabel=name)

    def window_id(self, name: str) -> str:
        """The Visdom window id used for metric ``name``."""
        return self.transport.window_id(name)

    def flush(self, timeout: float | None = 10.0) -> bool:
        return self.transport.flush(timeout)

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> LinePlotter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
