"""``slimwheel rules``: the pruning rules, one row each (code, name, in the default set or not, what it removes).

Guarantees: the rules in :data:`slimwheel.rules.RULES` order, their text made safe for the stream.
Must not know: what a rule matches (:mod:`slimwheel.rules`).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from rich.text import Text

from .console import AppConsole, Field, NameTable
from .rules import RULES

if TYPE_CHECKING:
    from .cli_common import Subparsers

NAME = "rules"


def add_parser(sub: Subparsers) -> None:
    sub.add_parser(NAME, help="list the pruning rules")


def execute(args: argparse.Namespace, out: AppConsole, err: AppConsole) -> int:
    table = NameTable(None, ["code", "name"], [Field("default", "left"), Field("removes", "left", flex=True)])
    for r in RULES:
        table.add_row([r.code, r.name], ["yes" if r.default else "no", Text(out.safe(r.description))])
    out.show(table)
    return 0
