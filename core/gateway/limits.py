"""Rate-limit rules (`rate_limit` action): sliding windows of requests and of spend per rule, in process."""

from __future__ import annotations

import time
import uuid
from collections import deque
from decimal import Decimal

from core.routing.rules import CompiledRule


def _trim(window: deque[tuple[float, Decimal]], horizon: float) -> None:
    while window and window[0][0] <= horizon:
        window.popleft()


class RateLimiter:
    def __init__(self) -> None:
        self._requests: dict[uuid.UUID, deque[tuple[float, Decimal]]] = {}
        self._costs: dict[uuid.UUID, deque[tuple[float, Decimal]]] = {}

    def admit(self, rule: CompiledRule) -> bool:
        """Count the request in the rule's window when it fits (requests and spend); False when it does not."""
        now = time.monotonic()
        action = rule.action
        horizon = now - action.window_size_seconds
        requests = self._requests.setdefault(rule.id, deque())
        costs = self._costs.setdefault(rule.id, deque())
        _trim(requests, horizon)
        _trim(costs, horizon)
        if action.max_requests_per_window is not None and len(requests) >= action.max_requests_per_window:
            return False
        if action.max_cost_per_window is not None:
            spent = sum((cost for _, cost in costs), Decimal(0))
            if spent >= Decimal(str(action.max_cost_per_window)):
                return False
        requests.append((now, Decimal(0)))
        return True

    def charge(self, rule: CompiledRule, cost: Decimal) -> None:
        """Add an admitted request's actual cost to the rule's spend window."""
        if cost:
            self._costs.setdefault(rule.id, deque()).append((time.monotonic(), cost))
