"""The Logger-interface table of notebook 02, read from the installed Lightning."""

from __future__ import annotations

import abc

from lightning.pytorch.loggers import CSVLogger, Logger

from visdomkit.interface import implementation_report, markdown_table, public_members


def test_reads_lightnings_abstract_members():
    members = {m.name: m for m in public_members()}
    assert {n for n, m in members.items() if m.abstract} == set(Logger.__abstractmethods__)
    assert members["log_metrics"].kind == "method"
    assert "metrics" in members["log_metrics"].signature
    assert members["version"].kind == "property"
    assert members["save_dir"].summary  # every member carries its docstring's first paragraph
    assert "log_graph" in members and "finalize" in members


def test_report_tells_implemented_inherited_and_missing():
    class HalfLogger(Logger, abc.ABC):
        @property
        def name(self):
            return "half"

    report = dict(implementation_report(HalfLogger))
    assert report["name"] == "implemented"
    assert report["log_metrics"] == "MISSING"
    assert report["group_separator"] == "inherited"
    csv = dict(implementation_report(CSVLogger))
    assert "MISSING" not in csv.values()
    assert csv["log_metrics"] == "implemented"


def test_markdown_table_has_one_row_per_member():
    members = public_members()
    table = markdown_table(members)
    assert len(table.splitlines()) == len(members) + 2
    assert "| `log_metrics` | method | yes |" in table
