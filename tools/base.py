"""What every tool returns: its data and the query (SQL or tool call) that produced it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.errors import InvalidInput


class ToolError(InvalidInput):
    """A tool could not run as asked (bad arguments, a refused query, a missing capability): shown to the model."""

    code = "tool_error"


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def quote(value: str) -> str:
    """A SQL string literal (for the human-readable, re-runnable queries the tools report)."""
    return "'" + value.replace("'", "''") + "'"


@dataclass
class ToolResult:
    tool: str
    args: dict[str, Any]
    data: Any
    queries: list[str] = field(default_factory=list)

    @property
    def call(self) -> str:
        return f"{self.tool}({json.dumps(self.args, sort_keys=True, default=str)})"

    def as_dict(self) -> dict[str, Any]:
        return {"tool": self.tool, "args": self.args, "data": self.data, "queries": self.queries}
