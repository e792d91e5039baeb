"""Pricing a gateway call, settling its budget reservation, counting its rule's saving and recording its usage.

Saving of a routed call: what the requested model would have cost for the same tokens minus what the served
model cost (both from the price catalogue); it goes to the rule's counters and into the event's metadata
(`rule_id`, `saving`), so measured savings can be recomputed from stored usage.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from core.budgets.enforce import BudgetEnforcer
from core.gateway.call import Call, Usage
from core.gateway.limits import RateLimiter
from core.gateway.recorder import PendingEvent, Pricer, UsageRecorder
from core.routing.router import Deployment, GatewayRouter
from core.routing.rules_store import RuleStats

DEFAULT_OUTPUT_ESTIMATE = 1024  # output tokens reserved when a request sets no max_tokens


def request_id() -> str:
    """128 random bits as 32 hex digits, like uuid4().hex but without os.urandom: that call releases the GIL,
    and under load a background thread (usage ingest, cache writes) then holds the event loop up to take it back.
    Unique enough for an event id (random reseeds itself in a forked child)."""
    return f"{random.getrandbits(128):032x}"


class Accountant:
    def __init__(
        self,
        *,
        router: GatewayRouter,
        pricer: Pricer,
        enforcer: BudgetEnforcer,
        recorder: UsageRecorder,
        stats: RuleStats,
        limiter: RateLimiter,
    ) -> None:
        self.router, self.pricer, self.enforcer = router, pricer, enforcer
        self.recorder, self.stats, self.limiter = recorder, stats, limiter

    @staticmethod
    def budget_attributes(call: Call, deployment: Deployment) -> dict[str, str | None]:
        return {**call.request.attributes, "model": deployment.model}

    def estimate(self, call: Call, deployment: Deployment) -> Decimal:
        """Reserved before the call: prompt tokens (estimated) and max_tokens (or a default) at list price."""
        output = call.request.max_tokens or DEFAULT_OUTPUT_ESTIMATE
        cost = self.pricer.cost(
            call.org_id,
            deployment.provider,
            deployment.model,
            at=datetime.now(UTC),
            input_tokens=call.facts.input_tokens,
            output_tokens=output,
        )
        return cost or Decimal(0)

    def reserve(self, call: Call) -> None:
        deployment = self.router.deployments(call.choice.group)[0]
        attributes = self.budget_attributes(call, deployment)
        call.reservation = self.enforcer.reserve(call.org_id, attributes, self.estimate(call, deployment))

    def settle(self, call: Call, cost: Decimal | None) -> None:
        """Once per call: the budget reservation becomes the actual cost; rate-limit windows learn it."""
        if call.reservation is None or call.reservation.done:
            return
        self.enforcer.settle(call.reservation, cost)
        for rule in call.decision.rate_limits:
            self.limiter.charge(rule, cost or Decimal(0))

    def cost(self, call: Call, provider: str, model: str, usage: Usage, at: datetime) -> Decimal | None:
        return self.pricer.cost(
            call.org_id,
            provider,
            model,
            at=at,
            input_tokens=usage.input,
            output_tokens=usage.output,
            cache_read=usage.cache_read,
            reasoning=usage.reasoning,
        )

    def account(
        self,
        call: Call,
        deployment: Deployment,
        usage: Usage,
        *,
        attempts: int,
        finish: str | None,
        status: str = "success",
        ttft_ms: float | None = None,
        streaming: bool = False,
    ) -> Decimal | None:
        """Price the call, settle the budget reservation, count the rule's saving, record the event."""
        now = datetime.now(UTC)
        cost = self.cost(call, deployment.provider, deployment.model, usage, now)
        self.settle(call, cost)
        extra: dict[str, Any] = {"cache": call.cache_state}
        rule = call.choice.rule
        if rule is not None and cost is not None:
            requested = self.router.deployments(call.request.model)
            provider, model = (
                (requested[0].provider, requested[0].model) if requested else ("openai", call.request.model)
            )
            original = self.cost(call, provider, model, usage, now)
            if original is not None:
                self.stats.saved(rule.id, original - cost)
                extra["saving"] = str(original - cost)
        self.record(
            call,
            deployment,
            usage,
            cost=cost or Decimal(0),
            attempts=attempts,
            status=status,
            finish=finish,
            ttft_ms=ttft_ms,
            streaming=streaming,
            extra=extra,
        )
        return cost

    def record(
        self,
        call: Call,
        deployment: Deployment,
        usage: Usage,
        *,
        cost: Decimal,
        attempts: int,
        status: str = "success",
        error_code: str | None = None,
        finish: str | None = None,
        ttft_ms: float | None = None,
        streaming: bool = False,
        extra: dict[str, Any] | None = None,
    ) -> None:
        request, facts, attrs = call.request, call.facts, call.request.attributes
        metadata: dict[str, Any] = {"gateway": True, "requested_model": request.model, **(extra or {})}
        if call.choice.rule is not None:
            metadata["rule_id"] = str(call.choice.rule.id)
        elif call.decision.cache is not None and call.cache_state == "hit":
            metadata["rule_id"] = str(call.decision.cache.id)
        if call.choice.tier_routed:
            metadata["tier_routed"] = True
        fields: dict[str, Any] = {
            "request_id": request_id(),
            "timestamp": datetime.now(UTC),
            "provider": deployment.provider,
            "model": deployment.model,
            "input_tokens": usage.input,
            "output_tokens": usage.output,
            "cache_read_tokens": min(usage.cache_read, usage.input),
            "reasoning_tokens": min(usage.reasoning, usage.output),
            "endpoint": facts.endpoint,
            "latency_ms": round((time.perf_counter() - call.started) * 1000, 3),
            "ttft_ms": ttft_ms,
            "status": status,
            "error_code": error_code,
            "attempt": max(1, attempts),
            "trace_id": request.trace_id,
            "streaming": streaming,
            "max_tokens": request.max_tokens,
            "finish_reason": finish,
            "team": attrs.get("team"),
            "project": attrs.get("project"),
            "feature": attrs.get("feature"),
            "user_id": attrs.get("user"),
            "environment": attrs.get("environment"),
            "api_key_id": str(call.principal.key_id),
            "metadata": metadata,
        }
        item = PendingEvent(fields, self.budget_attributes(call, deployment), cost, facts)
        self.recorder.record(call.org_id, item)
