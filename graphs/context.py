"""The runtime context of the graphs: services (database, model, org, window), never stored in state."""

from __future__ import annotations

from agents.base import Services

GraphContext = Services

__all__ = ["GraphContext"]
