"""Metric values: what a logging call accepts, checked on the caller's thread in about a
microsecond.

Accepted: Python ``float``/``int``/``bool``, any ``numbers.Real``, numpy scalars and 1-element
arrays, 1-element torch tensors. A tensor on the CPU is read at once; one on an accelerator is
copied on its device (so later in-place updates do not change it) and read later on the
transport's ingest thread, so the training loop never waits for the device. Refused, with a
reason naming the value: ``None``, strings, bytes, complex numbers, tensors and arrays with
several elements.
"""

from __future__ import annotations

import numbers
import sys
from typing import Any


class BadValue(Exception):
    """A value that cannot be logged; ``kind`` is the exception class to raise for it."""

    def __init__(self, reason: str, kind: type[Exception] = TypeError) -> None:
        super().__init__(reason)
        self.kind = kind


class Deferred:
    """A 1-element device tensor, read on the ingest thread (where the host sync may block)."""

    __slots__ = ("tensor",)

    def __init__(self, tensor: Any) -> None:
        self.tensor = tensor

    def resolve(self) -> float:
        value = self.tensor.item()
        if isinstance(value, bool | int | float):
            return float(value)
        raise BadValue(f"expected a real number, got {type(value).__name__} {value!r}")


def describe(value: Any) -> str:
    """Type and a short repr of ``value``, for error messages.

    Example:
        >>> describe("0.5")
        "str '0.5'"
    """
    text = repr(value)
    return f"{type(value).__name__} {text[:60] + '…' if len(text) > 60 else text}"


def coerce(value: Any) -> float | Deferred:
    """A float, or a :class:`Deferred` for a tensor that lives on an accelerator.

    Args:
        value: the metric value.

    Raises:
        BadValue: for a value that cannot be logged (its ``kind`` says which error to raise).

    Example:
        >>> coerce(3), coerce(True)
        (3.0, 1.0)
    """
    kind = type(value)
    if kind is float:
        return value
    try:
        if kind is int or kind is bool:
            return float(value)
        torch = sys.modules.get("torch")
        if torch is not None and isinstance(value, torch.Tensor):
            if value.numel() != 1:
                raise BadValue(
                    f"expected a scalar, got a tensor of shape {tuple(value.shape)}", ValueError
                )
            if value.is_complex():
                raise BadValue(f"expected a real number, got a {value.dtype} tensor")
            if value.device.type == "cpu":
                return float(value.item())
            # no .item() here: it would wait for the device. A copy on the device keeps the
            # value as of now even if the caller later updates the tensor in place.
            return Deferred(value.detach().clone())
        if isinstance(value, str | bytes) or value is None:
            raise BadValue(f"expected a number, got {describe(value)}")
        np = sys.modules.get("numpy")
        if np is not None and isinstance(value, np.ndarray | np.generic):
            if value.size != 1:
                raise BadValue(
                    f"expected a scalar, got an array of shape {value.shape}", ValueError
                )
            if np.iscomplexobj(value):
                raise BadValue(f"expected a real number, got {describe(value)}")
            value = value.item()
            if isinstance(value, bool | int | float):
                return float(value)
            raise BadValue(f"expected a number, got {describe(value)}")
        if isinstance(value, numbers.Real):
            return float(value)
    except BadValue:
        raise
    except (TypeError, ValueError, OverflowError, RuntimeError) as exc:
        raise BadValue(f"cannot convert {describe(value)} to a float: {exc}") from None
    raise BadValue(f"expected a number or a 1-element tensor, got {describe(value)}")


def to_float(name: str, value: Any) -> float:
    """A plain float from a Python/numpy number, bool, or a 1-element tensor (any device).

    Raises ``TypeError`` (or ``ValueError`` for a tensor/array with several elements) naming
    the metric. Unlike :meth:`Transport.append`, this waits for a device tensor.

    Example:
        >>> to_float("loss", True), to_float("lr", 3)
        (1.0, 3.0)
    """
    try:
        value = coerce(value)
        return value.resolve() if isinstance(value, Deferred) else value
    except BadValue as exc:
        raise exc.kind(f"metric {name!r}: {exc}") from None
