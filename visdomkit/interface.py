"""Read what a Lightning logger must implement, from Lightning itself (notebook 02).

Nothing here is hard-coded: the members, their kinds, signatures and summaries are read from the
installed ``lightning.pytorch.loggers.Logger`` with :mod:`inspect`, so the table follows Lightning
when it changes.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass


@dataclass(frozen=True)
class Member:
    """One public member of a class, as :func:`public_members` reads it."""

    name: str
    kind: str  # "property" or "method"
    abstract: bool
    signature: str
    summary: str


def _summary(obj) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.strip().split("\n\n", 1)[0].replace("\n", " ")


def public_members(cls: type | None = None) -> list[Member]:
    """The public members ``cls`` defines or inherits (default: Lightning's ``Logger``).

    Args:
        cls: the class to read; ``None`` reads ``lightning.pytorch.loggers.Logger``.

    Returns:
        One :class:`Member` per public name, abstract ones first, then by name.
    """
    if cls is None:
        from lightning.pytorch.loggers import Logger as cls
    abstract = getattr(cls, "__abstractmethods__", frozenset())
    members = []
    for name in dir(cls):
        if name.startswith("_"):
            continue
        static = inspect.getattr_static(cls, name)
        if isinstance(static, property):
            target, kind = static.fget, "property"
            signature = ""
        elif inspect.isfunction(static) or isinstance(static, staticmethod | classmethod):
            target, kind = getattr(cls, name), "method"
            signature = str(inspect.signature(target))
        else:
            continue
        members.append(Member(name, kind, name in abstract, signature, _summary(target)))
    return sorted(members, key=lambda m: (not m.abstract, m.name))


def implementation_report(impl: type, base: type | None = None) -> list[tuple[str, str]]:
    """For each public member of ``base``, how ``impl`` provides it.

    Returns:
        ``(name, status)`` pairs, status one of ``"implemented"`` (``impl`` or a class between it
        and ``base`` defines it), ``"inherited"`` (``base``'s own default) or ``"MISSING"``
        (abstract in ``base`` and not implemented).
    """
    if base is None:
        from lightning.pytorch.loggers import Logger as base
    still_abstract = getattr(impl, "__abstractmethods__", frozenset())
    report = []
    for member in public_members(base):
        owner = next(k for k in impl.__mro__ if member.name in vars(k))
        if member.name in still_abstract:
            status = "MISSING"
        elif owner is base or owner in base.__mro__:
            status = "inherited"
        else:
            status = "implemented"
        report.append((member.name, status))
    return report


def markdown_table(members: list[Member]) -> str:
    """A Markdown table of members (for ``IPython.display.Markdown``)."""
    rows = ["| member | kind | abstract | signature | summary |", "| --- | --- | --- | --- | --- |"]
    for m in members:
        signature = f"`{m.signature}`" if m.signature else ""
        mark = "yes" if m.abstract else ""
        rows.append(f"| `{m.name}` | {m.kind} | {mark} | {signature} | {m.summary} |")
    return "\n".join(rows)
