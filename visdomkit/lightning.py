"""VisdomLogger: a :class:`lightning.pytorch.loggers.Logger` that draws live Visdom dashboards.

It behaves like Lightning's own CSVLogger and TensorBoardLogger (``name``, an auto-incrementing
``version``, ``save_dir`` / ``root_dir`` / ``log_dir``, ``hparams.yaml``, rank-zero-only writing)
and hands every point to :class:`~visdomkit.transport.Transport`; it never calls visdom's plotting
methods itself.

The run folder ``save_dir/name/version_N`` holds ``hparams.yaml`` and the transport's journal.
Resuming is the transport's rule for a series (TensorBoard's ``purge_step``): a step that is not
after the last one replaces the points from that step on, so a run resumed from a checkpoint
continues its curves without duplicate or backwards points.
"""

from __future__ import annotations

import html
import inspect
import logging
import math
import os
import re
import time
from argparse import Namespace
from collections.abc import Mapping, Sequence
from dataclasses import fields, is_dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.fabric.utilities.logger import _flatten_dict, _sanitize_params
from lightning.fabric.utilities.types import _PATH
from lightning.pytorch.core.saving import save_hparams_to_yaml
from lightning.pytorch.loggers.logger import Logger
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from typing_extensions import override

from visdomkit.server import VisdomServer
from visdomkit.transport import Transport, resolve_server, validate_env

if TYPE_CHECKING:
    import visdom
    from lightning.pytorch.callbacks import ModelCheckpoint
    from torch import Tensor
    from torch.nn import Module

log = logging.getLogger("visdomkit")

#: Stage words that ``group_stages=True`` strips from a metric key to find its shared window.
STAGES = ("train", "training", "val", "valid", "validation", "test", "predict")
_SEP = r"[/_.\-]"
_STAGE_PREFIX = re.compile(rf"^(?:{'|'.join(STAGES)}){_SEP}(?P<rest>.+)$")
_STAGE_SUFFIX = re.compile(rf"^(?P<rest>.+){_SEP}(?:{'|'.join(STAGES)})$")
# Lightning appends these when a metric is logged with on_step=True and on_epoch=True.
_AGGREGATION_SUFFIX = re.compile(r"^(?P<core>.+)_(?:step|epoch)$")

#: The text panes beside the metric windows (see the ``panes`` argument).
PANES = ("hparams", "model", "checkpoints", "status")
# a pane's window name; chosen so that no sensible metric key collides with it
_PANE_WINDOW = "visdomkit:{}"


class VisdomLogger(Logger):
    r"""Log to a Visdom server, one live window per metric, and keep a local run folder.

    Every key passed to :meth:`log_metrics` (everything a LightningModule ``self.log()``\ s, plus
    the ``epoch`` Lightning adds) gets its own window titled with the key, x = the global step.
    ``group_stages`` and ``groups`` put several keys into one window as named lines. Only rank zero
    writes; the logger pickles (``ddp_spawn``) before and after its first use.

    The run folder ``save_dir/name/version_N`` (``log_dir``) holds ``hparams.yaml`` and the
    transport's journal; pass the same ``version`` (or ``env``) to resume a run (see
    :meth:`log_metrics`). Besides the metric windows the env shows four panes: hyperparameters,
    model summary, saved checkpoints with their monitored score, and the run status.

    Args:
        save_dir: folder that holds the runs, like CSVLogger's ``save_dir``.
        name: experiment name; runs live in ``save_dir/name``. ``None`` or ``""`` stores the
            versions directly in ``save_dir``.
        version: run version. ``None`` takes the next free ``version_N`` in ``save_dir/name``
            (so it survives restarts); an int picks ``version_N``; a string is used as the folder
            name. Pass the version of an earlier run to resume it.
        env: Visdom env of every window. ``None`` derives it from name and version, e.g.
            ``visdom_version_3`` (Visdom groups envs by the part before the first underscore).
            Env names may not contain ``/``, ``\`` or ``..``.
        server: URL such as ``http://127.0.0.1:8097``, a started
            :class:`~visdomkit.VisdomServer`, or ``None`` for ``$VISDOMKIT_SERVER`` / the default
            local server. Only the URL is kept, so the logger stays picklable.
        group_stages: put keys that differ only by a stage word (``train``, ``val``, ``test``, ...)
            as prefix or suffix into one window: ``train/loss``, ``val/loss``, ``train_loss_step``
            and ``loss_val`` become lines of window ``loss``, with a legend.
        groups: your own grouping rule, ``{prefix: window}``: every key starting with ``prefix``
            becomes a line of ``window`` (the longest matching prefix wins; checked before
            ``group_stages``). Example: ``{"grad_norm/": "gradient norms"}``.
        username: login user of a Visdom server with login enabled. Default: the
            :class:`~visdomkit.VisdomServer`'s credentials, else ``$VISDOM_USERNAME``.
        password: login password; default as for ``username`` (``$VISDOM_PASSWORD``). Credentials
            are never logged, shown in a pane, written to hparams or shown by ``repr``. With
            LightningCLI prefer the environment variables: the CLI saves its arguments to
            ``config.yaml``.
        prefix: string put before every window and line name, joined with ``-`` (as in
            CSVLogger); grouping looks at the keys without it.
        panes: which text panes to show beside the metric windows: ``True`` for all of
            :data:`PANES` (``hparams``, ``model`` summary, saved ``checkpoints``, run
            ``status``), ``False`` for none, or a list of their names. ``hparams.yaml`` is
            written either way.
        transport_options: keyword arguments for :class:`~visdomkit.transport.Transport`
            (e.g. ``{"flush_interval": 0.5}``).

    Example:
        >>> from lightning.pytorch import Trainer
        >>> from visdomkit import VisdomLogger
        >>> logger = VisdomLogger("runs", name="mnist", server="http://127.0.0.1:8097")
        >>> trainer = Trainer(logger=logger, max_epochs=3)  # doctest: +SKIP
        >>> trainer.fit(model, train_loader, val_loader)  # doctest: +SKIP
    """

    LOGGER_JOIN_CHAR = "-"
    NAME_HPARAMS_FILE = "hparams.yaml"
    #: Seconds :meth:`finalize` waits for queued points to reach the server.
    FLUSH_TIMEOUT = 10.0

    def __init__(
        self,
        save_dir: _PATH = "lightning_logs",
        name: str | None = "visdom",
        version: int | str | None = None,
        *,
        env: str | None = None,
        server: str | VisdomServer | None = None,
        group_stages: bool = False,
        groups: dict[str, str] | None = None,
        username: str | None = None,
        password: str | None = None,
        prefix: str = "",
        panes: bool | list[str] = True,
        transport_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if version is not None and (
            isinstance(version, bool)
            or not isinstance(version, int | str)
            or (isinstance(version, int) and version < 0)
            or version == ""
        ):
            raise ValueError(
                f"version must be None, an int >= 0 or a non-empty string, got {version!r}"
            )
        if name is not None and not isinstance(name, str):
            raise ValueError(f"name must be a string or None, got {name!r}")
        if env is not None:
            validate_env(env)
        self._save_dir = os.fspath(save_dir)
        self._name = name or ""
        self._version = version
        self._env = env
        self._server_url = resolve_server(server)
        if username is None and password is None:
            # A VisdomServer started with login knows its credentials; a URL does not.
            credentials = getattr(server, "credentials", None) or {}
            username, password = credentials.get("username"), credentials.get("password")
        self._username = username
        self._password = password
        self._group_stages = bool(group_stages)
        self._groups = _check_groups(groups)
        self._prefix = prefix
        self._panes = _check_panes(panes)
        self._transport_options = dict(transport_options or {})
        self.hparams: dict[str, Any] = {}

        self._experiment: visdom.Visdom | None = None
        self._transport: Transport | None = None
        self._routes: dict[str, tuple[str, str | None]] = {}
        self._last: dict[str, tuple[float, float]] = {}  # key -> last (x, y) sent
        self._last_step: float | None = None
        self._checkpoints: dict[str, dict[str, Any]] = {}
        self._started_at: float | None = None

    # -- identity and folders ---------------------------------------------------------------

    @property
    @override
    def name(self) -> str:
        """The experiment name (``""`` when none was given).

        Example:
            >>> VisdomLogger("runs", name="mnist").name
            'mnist'
        """
        return self._name

    @property
    @override
    def version(self) -> int | str:
        """The run version: the one given, else the next free ``version_N`` in :attr:`root_dir`.

        Example:
            >>> VisdomLogger("runs", name="mnist", version=3).version
            3
        """
        if self._version is None:
            self._version = self._next_version()
        return self._version

    @property
    def env(self) -> str:
        """The Visdom env of this run's windows (given, or derived from name and version).

        Example:
            >>> VisdomLogger("runs", name="mnist", version=3).env
            'mnist_version_3'
        """
        if self._env is None:
            version = self.version if isinstance(self.version, str) else f"version_{self.version}"
            raw = f"{self.name}_{version}" if self.name else version
            self._env = re.sub(r"[^\w.=+-]|\.\.", "_", raw)
        return self._env

    @property
    def server(self) -> str:
        """URL of the Visdom server (never with credentials).

        Example:
            >>> VisdomLogger(server="http://127.0.0.1:8097").server
            'http://127.0.0.1:8097'
        """
        return _without_userinfo(self._server_url)

    @property
    @override
    def save_dir(self) -> str:
        """The folder that holds every experiment's runs (the ``save_dir`` argument).

        Example:
            >>> VisdomLogger("runs").save_dir
            'runs'
        """
        return self._save_dir

    @property
    @override
    def root_dir(self) -> str:
        """The folder of all versions of this experiment: ``save_dir/name``.

        Example:
            >>> VisdomLogger("runs", name="mnist").root_dir
            'runs/mnist'
        """
        return os.path.join(self._save_dir, self._name)

    @property
    @override
    def log_dir(self) -> str:
        """This run's folder, ``save_dir/name/version_N``: ``hparams.yaml`` and journal.

        Example:
            >>> VisdomLogger("runs", name="mnist", version=3).log_dir
            'runs/mnist/version_3'
        """
        version = self.version if isinstance(self.version, str) else f"version_{self.version}"
        return os.path.join(self.root_dir, version)

    @property
    @rank_zero_experiment
    def experiment(self) -> visdom.Visdom:
        """The underlying :class:`visdom.Visdom` client on this run's env (rank zero only).

        Other ranks get a dummy that accepts and ignores every call. Use it for what the logger
        does not draw itself (images, text); metric curves go through :meth:`log_metrics`.

        Example:
            >>> logger = VisdomLogger(server="http://127.0.0.1:8097")
            >>> logger.experiment.text("hello", win="notes")  # doctest: +SKIP
        """
        if self._experiment is None:
            import visdom

            self._start()
            parts = urlsplit(self._server_url)
            host = parts.hostname or "127.0.0.1"
            # Lightning builds every logger's experiment at setup. Built with send=False,
            # visdom's constructor makes no request (with the server down it would log a
            # traceback, and warn about the incoming socket either way); sending starts with
            # the first call made on the client.
            client = visdom.Visdom(
                server=f"{parts.scheme}://{f'[{host}]' if ':' in host else host}",
                port=parts.port or (443 if parts.scheme == "https" else 80),
                base_url=parts.path or "/",
                env=self.env,
                send=False,
                use_incoming_socket=False,
                **self._credentials(),
            )
            client.send = True
            self._experiment = client
        return self._experiment

    # -- Logger hooks -------------------------------------------------------------------------

    @override
    @rank_zero_only
    def log_hyperparams(self, params: Any = None, *args: Any, **kwargs: Any) -> None:
        """Show hyperparameters as one table pane and save them to ``log_dir/hparams.yaml``.

        Nested dicts, :class:`~argparse.Namespace`, dataclasses and OmegaConf (or other
        Mapping) configs are converted; the pane shows them flattened with ``/`` the way
        Lightning's loggers do. Repeated calls add to what was logged before.

        Args:
            params: a dict, Namespace, dataclass instance or Mapping of hyperparameters.
            *args: ignored (other loggers take metrics here).
            **kwargs: ignored.

        Example:
            >>> logger = VisdomLogger("runs", server="http://127.0.0.1:8097")
            >>> logger.log_hyperparams({"lr": 1e-3, "optim": {"name": "adam"}})  # doctest: +SKIP
        """
        plain = _to_plain(params) if params is not None else {}
        if not isinstance(plain, dict):
            raise ValueError(
                "params must be a dict, Namespace, dataclass or Mapping, "
                f"got {type(params).__name__} {params!r}"
            )
        self._start()
        self.hparams.update(plain)
        # a copy: Lightning replaces values YAML cannot hold in the dict it is given
        save_hparams_to_yaml(os.path.join(self.log_dir, self.NAME_HPARAMS_FILE), dict(self.hparams))
        flat = _flatten_dict(self.hparams, delimiter="/")
        flat = _sanitize_params({key: _readable(value) for key, value in flat.items()})
        rows = "".join(
            f"<tr><td>{html.escape(str(key))}</td><td>{html.escape(_display(value))}</td></tr>"
            for key, value in flat.items()
        )
        self._pane("hparams", f"{_TABLE}{rows}{_TABLE_END}")

    @override
    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Queue one point per metric; each metric key has its own window unless grouped.

        x is ``step`` (Lightning passes the global step, so epoch-level metrics sit at the step
        where they were logged); ``None`` continues each key after its last x. A point equal to
        the key's previous one (same x, same value) is not sent again: Lightning repeats
        ``epoch`` at the end of every epoch. A step that is not after the key's last x replaces
        the points from that step on (the transport's rule), which is what a run resumed from a
        checkpoint needs. Values that are not numbers are skipped with one warning per key:
        nothing raised here reaches the training loop.

        Args:
            metrics: metric key to a number or one-element tensor.
            step: x of every point.

        Example:
            >>> logger = VisdomLogger("runs", server="http://127.0.0.1:8097")
            >>> logger.log_metrics({"train_loss": 0.25, "epoch": 0}, step=10)  # doctest: +SKIP
        """
        transport = self._start()
        x = None if step is None else float(step)
        for key, y in metrics.items():
            key = str(key)
            if type(y) in (float, int) and x is not None:  # Lightning passes Python numbers
                if self._last.get(key) == (x, y):
                    continue
                self._last[key] = (x, y)
            window, series = self._route(key)
            # the transport checks the value (a bad one is skipped with one warning per key)
            # and reads device tensors on its own thread
            transport.append(window, x, y, series=series, title=window, ylabel=window)
        if x is not None:
            self._last_step = x if self._last_step is None else max(self._last_step, x)

    @override
    @rank_zero_only
    def log_graph(self, model: Module, input_array: Tensor | None = None) -> None:
        """Show a model-summary pane (Lightning's ModelSummary; ``repr`` for a plain Module).

        The Trainer calls this at the start of every run (``panes`` without ``"model"`` turns it
        off). With
        ``model.example_input_array`` (or ``input_array``) set, the summary lists in/out sizes,
        which costs one forward pass.

        Args:
            model: a LightningModule or any :class:`torch.nn.Module`.
            input_array: example input for the summary's in/out sizes.

        Example:
            >>> logger = VisdomLogger("runs", server="http://127.0.0.1:8097")
            >>> logger.log_graph(torch.nn.Linear(4, 2))  # doctest: +SKIP
        """
        if "model" not in self._panes:
            return
        self._start()
        try:
            summary = _model_summary(model, input_array)
        except Exception as exc:  # a summary must never stop training
            log.warning("VisdomLogger: no model summary: %s", exc)
            return
        content, width, height = _preformatted(summary)
        self._pane("model", content, width=width, height=height)

    @override
    @rank_zero_only
    def after_save_checkpoint(self, checkpoint_callback: ModelCheckpoint) -> None:
        """Update the pane that lists the saved checkpoints with their monitored score.

        Args:
            checkpoint_callback: the :class:`~lightning.pytorch.callbacks.ModelCheckpoint` that
                just saved (the Trainer calls this).

        Example:
            >>> from lightning.pytorch.callbacks import ModelCheckpoint
            >>> checkpoints = ModelCheckpoint(monitor="val_acc", mode="max", save_top_k=3)
            >>> trainer = Trainer(logger=VisdomLogger(), callbacks=[checkpoints])  # doctest: +SKIP
        """
        if "checkpoints" not in self._panes:
            return
        self._start()
        cb = checkpoint_callback  # a weakref proxy: read it now, keep nothing of it
        key = getattr(cb, "state_key", repr(cb.monitor))
        scores: dict[str, float | None] = {}
        if cb.monitor is None and cb.save_top_k == -1:
            # keeps every checkpoint but remembers only the newest: accumulate them here
            scores.update(self._checkpoints.get(key, {}).get("scores", {}))
        scores.update((path, _score(score)) for path, score in cb.best_k_models.items())
        if cb.best_model_path:
            scores.setdefault(cb.best_model_path, _score(cb.best_model_score))
        if cb.last_model_path:
            scores.setdefault(cb.last_model_path, None)
        self._checkpoints[key] = {
            "monitor": cb.monitor,
            "mode": cb.mode,
            "dirpath": cb.dirpath,
            "best": cb.best_model_path,
            "scores": scores,
        }
        self._pane("checkpoints", self._checkpoints_html())

    @override
    @rank_zero_only
    def save(self) -> None:
        """Write ``hparams.yaml`` if it is missing (the Trainer calls this after every log).

        Points need no saving: the transport sends them in the background and journals them.

        Example:
            >>> VisdomLogger("runs").save()  # doctest: +SKIP
        """
        super().save()
        path = os.path.join(self.log_dir, self.NAME_HPARAMS_FILE)
        if self._transport is not None and self.hparams and not os.path.isfile(path):
            save_hparams_to_yaml(path, dict(self.hparams))

    @override
    @rank_zero_only
    def finalize(self, status: str) -> None:
        """Show the final status, save, and wait until every queued point reached the server.

        A no-op in a process that never used the logger (the main process of ``ddp_spawn``).
        The logger stays usable: ``trainer.test`` after ``trainer.fit`` logs to the same env.

        Args:
            status: how the run ended; the Trainer passes ``"success"``, ``"failed"`` or
                ``"finished"``.

        Example:
            >>> logger = VisdomLogger("runs", server="http://127.0.0.1:8097")
            >>> logger.finalize("success")  # doctest: +SKIP
        """
        if self._transport is None:
            return
        self._show_status(status)
        self.save()
        if not self._transport.flush(self.FLUSH_TIMEOUT):
            log.warning(
                "VisdomLogger: not every point reached %s; all are kept in %s (see `python -m "
                "visdomkit replay`)",
                self.server,
                self._transport.journal_path,
            )

    # -- helpers for users and tests ----------------------------------------------------------

    def window_id(self, key: str) -> str:
        """The Visdom window id that metric ``key`` is drawn in (after prefix and grouping).

        Args:
            key: a metric key as passed to :meth:`log_metrics` (without the logger's prefix).

        Example:
            >>> logger = VisdomLogger(group_stages=True)
            >>> logger.window_id("val_loss") == logger.window_id("train_loss")
            True
        """
        window, _ = self._route(key)
        if self._transport is not None:
            return self._transport.window_id(window)
        from visdomkit.transport import window_id

        return window_id(window)

    def __repr__(self) -> str:
        version = self._version
        return (
            f"{type(self).__name__}(save_dir={self._save_dir!r}, name={self._name!r}, "
            f"version={version!r}, env={self._env!r}, server={self.server!r})"
        )

    def __getstate__(self) -> dict[str, Any]:
        # The transport's thread, the client's session and sockets stay behind; the copy (a
        # ddp_spawn worker) starts its own on first use.
        state = self.__dict__.copy()
        state["_experiment"] = None
        state["_transport"] = None
        return state

    # -- internals ----------------------------------------------------------------------------

    def _start(self) -> Transport:
        """Create the run folder and the transport on first use (rank zero only)."""
        if self._transport is not None:
            return self._transport
        os.makedirs(self.log_dir, exist_ok=True)
        options = {"run_dir": self.log_dir, **self._credentials(), **self._transport_options}
        self._transport = Transport(self._server_url, self.env, **options)
        self._started_at = time.time()
        log.info("VisdomLogger: run %s -> %s/env/%s", self.log_dir, self.server, self.env)
        self._show_status("running")
        return self._transport

    def _credentials(self) -> dict[str, str]:
        username = self._username or os.environ.get("VISDOM_USERNAME")
        password = self._password or os.environ.get("VISDOM_PASSWORD")
        if not username and not password:
            return {}
        if not (username and password):
            missing = "password" if username else "username"
            raise ValueError(
                f"VisdomLogger: a Visdom login needs both username and password; {missing} is "
                f"missing (pass {missing}= or set VISDOM_{missing.upper()})"
            )
        return {"username": username, "password": password}

    def _route(self, key: str) -> tuple[str, str | None]:
        """``(window, series)`` of a metric key; series ``None`` means the key's own window.

        Grouping looks at the key as logged; ``prefix`` is then put before window and series.
        """
        route = self._routes.get(key)
        if route is None:
            window, series = key, None
            for start, group in self._groups:
                if key.startswith(start):
                    window, series = group, key
                    break
            else:
                if self._group_stages:
                    base = _strip_stage(key)
                    if base is not None:
                        window, series = base, key
            if self._prefix:
                join = self.LOGGER_JOIN_CHAR
                window = f"{self._prefix}{join}{window}"
                series = None if series is None else f"{self._prefix}{join}{series}"
            route = self._routes[key] = (window, series)
        return route

    def _pane(
        self, name: str, content: str, *, width: int | None = None, height: int | None = None
    ) -> None:
        if name in self._panes:
            self._start().text(
                _PANE_WINDOW.format(name), content, title=name, width=width, height=height
            )

    def _show_status(self, status: str) -> None:
        """The status pane: how the run stands, readable on any machine.

        The run is named relative to ``save_dir`` (``name/version_N``); its absolute folder is
        the cell's tooltip. Times carry their UTC offset, and the elapsed time needs no clock.
        """
        if "status" not in self._panes:
            return
        last = self._last_step
        now = time.time()
        started = self._started_at
        run = os.path.relpath(self.log_dir, self._save_dir) if self._save_dir else self.log_dir
        rows = [
            ("status", html.escape(status)),
            ("env", html.escape(self.env)),
            (
                "run",
                f'<span title="{html.escape(os.path.abspath(self.log_dir))}">'
                f"{html.escape(run)}</span>",
            ),
            ("last step", "-" if last is None else f"{last:g}"),
            ("started", html.escape(_clock(started))),
            ("elapsed", "-" if started is None else _duration(now - started)),
        ]
        # no-break spaces: a key never wraps, a long value does
        body = "".join(f"<tr><td>{k.replace(' ', '&nbsp;')}</td><td>{v}</td></tr>" for k, v in rows)
        self._pane("status", f"{_TABLE}{body}{_TABLE_END}")

    def _checkpoints_html(self) -> str:
        parts = []
        for info in self._checkpoints.values():
            monitor = info["monitor"]
            reverse = info["mode"] == "max"
            scored = sorted(
                info["scores"].items(),
                key=lambda item: (
                    item[1] is None,
                    -item[1] if reverse and item[1] is not None else (item[1] or 0.0),
                ),
            )
            head = f"monitor: {monitor} ({info['mode']})" if monitor else "no monitored metric"
            rows = "".join(
                "<tr><td>{best}{name}</td><td>{score}</td></tr>".format(
                    best="&#9733; " if path == info["best"] and monitor else "",
                    name=html.escape(os.path.basename(path)),
                    score="-" if score is None else f"{score:.6g}",
                )
                for path, score in scored
            )
            parts.append(
                f"<p><b>{html.escape(head)}</b><br><small>{html.escape(str(info['dirpath']))}"
                f"</small></p>{_TABLE}<tr><th>checkpoint</th>"
                f"<th>{html.escape(str(monitor or 'score'))}</th></tr>{rows}{_TABLE_END}"
            )
        return "".join(parts)

    def _next_version(self) -> int:
        root = self.root_dir
        if not os.path.isdir(root):
            return 0
        versions = [
            int(entry.name.split("_", 1)[1])
            for entry in os.scandir(root)
            if entry.is_dir()
            and entry.name.startswith("version_")
            and entry.name.split("_", 1)[1].isdigit()
        ]
        return max(versions, default=-1) + 1


# Inline styles: a <style> element in a pane would restyle every pane of the page. Visdom's page
# sets bootstrap's `table {border-collapse: collapse}`, which ignores border-spacing (the cells
# touched: "lr0.001"), and `* {font-family: "Open Sans"}`, which a font set on the table cannot
# reach the cells through; so the cells are spaced apart with separate borders and keep the page's
# font, and tall cells (a wrapped value) align at the top.
_TABLE = (
    '<table style="border-collapse:separate;border-spacing:12px 2px;text-align:left">'
    '<tbody style="vertical-align:top">'
)
_TABLE_END = "</tbody></table>"
# A model summary in a <pre>: monospace at this size (bootstrap's is 13 px), and its width per
# character, about 0.6 em in the usual monospace fonts (DejaVu Sans Mono, Menlo, Liberation Mono;
# Consolas is narrower).
_PRE_FONT_PX = 12
_PRE_LINE_PX = 17
_PRE_CHAR_PX = 7.3
_PRE_STYLE = f"font-size:{_PRE_FONT_PX}px;line-height:{_PRE_LINE_PX}px;overflow:auto;margin:0"
_PANE_MIN_PX, _PANE_MAX_WIDTH_PX, _PANE_MAX_HEIGHT_PX = 250, 900, 640


def _check_panes(panes: Any) -> frozenset[str]:
    if isinstance(panes, bool):
        return frozenset(PANES if panes else ())
    if isinstance(panes, str) or not all(p in PANES for p in panes):
        raise ValueError(f"panes must be True, False or a list drawn from {PANES}, got {panes!r}")
    return frozenset(panes)


def _check_groups(groups: Any) -> list[tuple[str, str]]:
    if groups is None:
        return []
    if not isinstance(groups, Mapping) or not all(
        isinstance(k, str) and k and isinstance(v, str) and v for k, v in groups.items()
    ):
        raise ValueError(
            f"groups must map non-empty key prefixes to non-empty window names, got {groups!r}"
        )
    return sorted(groups.items(), key=lambda item: -len(item[0]))


def _strip_stage(key: str) -> str | None:
    """``loss`` for ``train_loss``, ``val/loss``, ``loss_test``, ``train_loss_step``; else None."""
    match = _AGGREGATION_SUFFIX.match(key)
    core = match["core"] if match else key
    for pattern in (_STAGE_PREFIX, _STAGE_SUFFIX):
        found = pattern.match(core)
        if found:
            return found["rest"]
    return None


def _to_plain(value: Any) -> Any:
    """Nested dicts, lists and scalars from Namespaces, dataclasses and (OmegaConf) Mappings."""
    if isinstance(value, Namespace):
        value = vars(value)
    elif is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in fields(value)}
    elif type(value).__module__.startswith("omegaconf"):
        from omegaconf import OmegaConf

        value = OmegaConf.to_container(value, resolve=True)
    if isinstance(value, Mapping):
        return {str(k): _to_plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [_to_plain(v) for v in value]
    return value


def _readable(value: Any) -> Any:
    """Classes and functions by qualified name, one-element tensors as numbers."""
    if inspect.isclass(value) or inspect.isroutine(value):
        return f"{value.__module__}.{value.__qualname__}"
    if hasattr(value, "numel") and hasattr(value, "item") and value.numel() == 1:
        return value.item()
    return value


def _display(value: Any) -> str:
    """One hyperparameter value as pane text (floats to 7 significant digits, like float32)."""
    return f"{value:.7g}" if isinstance(value, float) else str(value)


def _score(score: Any) -> float | None:
    if score is None:
        return None
    try:
        return float(score.item() if hasattr(score, "item") else score)
    except (TypeError, ValueError):
        return None


def _model_summary(model: Module, input_array: Any = None) -> str:
    from lightning.pytorch import LightningModule
    from lightning.pytorch.utilities.model_summary import ModelSummary

    if not isinstance(model, LightningModule):
        total = sum(p.numel() for p in model.parameters())
        return f"{model!r}\n\n{total:,} parameters"
    if input_array is None:
        return str(ModelSummary(model, max_depth=1))
    previous = model.example_input_array
    model.example_input_array = input_array
    try:
        return str(ModelSummary(model, max_depth=1))
    finally:
        model.example_input_array = previous


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    return parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()


def _preformatted(text: str) -> tuple[str, int, int]:
    """``(html, width, height)``: ``text`` in a ``<pre>`` and a pane size (pixels) that shows it
    whole, up to 900 x 640; past that the ``<pre>`` scrolls, sideways too.

    Example:
        >>> _preformatted("a" * 80)[1:]
        (638, 250)
    """
    lines = text.splitlines() or [""]
    cols = max(len(line) for line in lines)
    # the <pre>'s padding and border (~21 px), visdom's pane bar (~20 px) and a little slack
    width = math.ceil(cols * _PRE_CHAR_PX) + 54
    height = len(lines) * _PRE_LINE_PX + 40
    width = min(max(width, _PANE_MIN_PX), _PANE_MAX_WIDTH_PX)
    height = min(max(height, _PANE_MIN_PX), _PANE_MAX_HEIGHT_PX)
    return f'<pre style="{_PRE_STYLE}">{html.escape(text)}</pre>', width, height


def _clock(t: float | None) -> str:
    """Local time with its UTC offset, so the reader needs no knowledge of the machine.

    Example:
        >>> _clock(None)
        '-'
    """
    if t is None:
        return "-"
    local = time.localtime(t)
    offset = local.tm_gmtoff or 0
    sign = "+" if offset >= 0 else "-"
    hours, minutes = divmod(abs(offset) // 60, 60)
    zone = "UTC" if offset == 0 else f"UTC{sign}{hours:02d}:{minutes:02d}"
    return f"{time.strftime('%Y-%m-%d %H:%M', local)} {zone}"


def _duration(seconds: float) -> str:
    """``'42 s'``, ``'3 min 05 s'``, ``'2 h 03 min'``.

    Example:
        >>> _duration(42.4), _duration(185), _duration(7380)
        ('42 s', '3 min 05 s', '2 h 03 min')
    """
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
