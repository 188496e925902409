"""The printer registry: for each (group, kind) its column definitions and the function giving a row's cells.

The server renders every column, the -o wide ones (priority 1) included, and kubectl hides what it
does not show; so a printer's cells always cover all of its columns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from apiserver.tables._docs import DOCS

Obj = dict[str, Any]
CellsFn = Callable[[Obj, datetime], list[Any]]


def doc(ref: str) -> str:
    """A field's API documentation, by "<package>.<Type>.<field>" (what upstream takes from SwaggerDoc())."""
    return DOCS.get(ref, "")


@dataclass(frozen=True)
class Column:
    name: str
    type: str = "string"
    description: str = ""
    priority: int = 0
    format: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        }


def col(name: str, description: str = "", type: str = "string") -> Column:
    return Column(name, type, description)


def wide(name: str, description: str = "", type: str = "string") -> Column:
    return Column(name, type, description, priority=1)


NAME = Column("Name", "string", doc("metav1.ObjectMeta.name"), format="name")
AGE = Column("Age", "string", doc("metav1.ObjectMeta.creationTimestamp"))
CREATED_AT = Column("Created At", "date", doc("metav1.ObjectMeta.creationTimestamp"))
CONTAINERS = wide("Containers", "Names of each container in the template.")
IMAGES = wide("Images", "Images referenced by each container in the template.")


@dataclass(frozen=True)
class Printer:
    columns: tuple[Column, ...]
    cells: CellsFn
    #: what the server sends for an empty list: [] from the printers, null from the default convertor
    empty_rows_null: bool = False
    #: the convertor sends column definitions even when asked not to (watch events after the first)
    always_columns: bool = False


REGISTRY: dict[tuple[str, str], Printer] = {}


def register(
    group: str, kinds: str | tuple[str, ...], columns: list[Column], **kw: Any
) -> Callable[[CellsFn], CellsFn]:
    """Decorator: the function gives the cells of one object of these kinds, in column order."""

    def deco(fn: CellsFn) -> CellsFn:
        for kind in (kinds,) if isinstance(kinds, str) else kinds:
            REGISTRY[(group, kind)] = Printer(tuple(columns), fn, **kw)
        return fn

    return deco
