"""visdomkit: live Visdom training dashboards for PyTorch and PyTorch Lightning.

The public names are imported lazily so that ``import visdomkit`` stays cheap (no torch or
Lightning import until a name that needs them is used).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# No NullHandler on purpose: without logging configured, our warnings (the server went away,
# it is back, a metric was skipped) reach stderr through logging's last-resort handler, once
# each. Configure the "visdomkit" logger to route or silence them.

_LAZY = {
    "VisdomServer": "visdomkit.server",
    "LinePlotter": "visdomkit.plotter",
    "VisdomLogger": "visdomkit.lightning",
    "GradientNormMonitor": "visdomkit.callbacks",
    "GradientNormLogger": "visdomkit.gradients",
    "expose": "visdomkit.tunnel",
    "show": "visdomkit.display",
    "Tunnel": "visdomkit.tunnel",
}

__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'visdomkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
