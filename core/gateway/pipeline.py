"""The gateway's per-request pipeline (CONTRACT section 7), in order:

auth (cached KeyResolver) → budget check (hard limits; reserve an estimate, settle after) → routing rules
(block, rate limit, route, cache, compress, alert; A/B percent) → tier routing under the quality floor →
response cache (exact by default for non-streaming requests; semantic when a rule turns it on) → upstream
(the Router chooses; bounded retries and fallbacks) → usage event recorded in the background → headers
`x-tokentra-model`, `x-tokentra-cache` (hit|miss|bypass), `x-tokentra-rule`.

Nothing on the request path waits for the database once an org has been seen: keys, rules and budgets are held
in process and refreshed in the background; usage, rule counters and cache writes are stored in batches.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Mapping
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy.exc import SQLAlchemyError

from core.budgets.enforce import BudgetEnforcer
from core.db import Database
from core.errors import InvalidInput, NotFound, PermissionDenied, RateLimited, Unauthenticated
from core.gateway.accounting import Accountant
from core.gateway.caching import GatewayCache
from core.gateway.call import Call, GatewayResponse, Usage, compressed, estimated_usage, finish_reason
from core.gateway.choose import Choice, choose
from core.gateway.keys import GatewayKeys
from core.gateway.limits import RateLimiter
from core.gateway.recorder import Pricer, UsageRecorder
from core.gateway.request import Facts, estimate_tokens, parse_chat, split_texts
from core.gateway.streaming import relay
from core.gateway.upstream import Upstream
from core.metrics import GATEWAY_OVERHEAD, GATEWAY_REQUESTS
from core.orgs.auth import KeyResolver, Principal
from core.orgs.permissions import allows
from core.pricing.book import PriceBook
from core.routing import rules_store
from core.routing.router import GatewayRouter, UpstreamFailure
from core.routing.rules import CompiledRule, Decision, RuleSet

if TYPE_CHECKING:
    from core.cache.service import CacheHit, ResponseCache

log = logging.getLogger(__name__)
RULES_TTL_SECONDS = 10.0
STATS_SECONDS = 5.0
# How often the response cache learns the keys other processes stored (and writes buffered hit counts). Each
# poll re-reads the keys of the cache's 30 s overlap window (core/cache/service.SYNC_OVERLAP): at 200 requests/s
# a 1 s poll fetched ~6,000 rows a second, 30 per request, in a thread competing for the GIL; at 5 s a repeat
# sent to another gateway process within 5 s of the first answer is a miss there, never a wrong answer.
CACHE_POLL_SECONDS = 5.0
QUEUE_SECONDS = 10.0  # longest a `queue` rate-limit rule holds a request

__all__ = ["Gateway", "GatewayResponse"]


class Gateway:
    def __init__(
        self,
        *,
        db: Database,
        resolver: KeyResolver,
        router: GatewayRouter,
        book: PriceBook,
        cache: ResponseCache | None = None,
        flush_seconds: float = 0.5,
        budget_refresh_seconds: float = 2.0,
    ) -> None:
        self.db, self.resolver, self.router = db, resolver, router
        self.executor = ThreadPoolExecutor(4, thread_name_prefix="tokentra-gateway")
        self.enforcer = BudgetEnforcer(db, refresh_seconds=budget_refresh_seconds)
        self.pricer = Pricer(book)
        self.recorder = UsageRecorder(db, enforcer=self.enforcer, pricer=self.pricer, executor=self.executor)
        self.upstream = Upstream(router)
        self.stats = rules_store.RuleStats()
        self.limiter = RateLimiter()
        self.cache = GatewayCache(db, cache, executor=self.executor)
        self.keys = GatewayKeys(resolver, executor=self.executor)
        self.accounts = Accountant(
            router=router,
            pricer=self.pricer,
            enforcer=self.enforcer,
            recorder=self.recorder,
            stats=self.stats,
            limiter=self.limiter,
        )
        self.flush_seconds = flush_seconds
        self._rules: dict[uuid.UUID, tuple[float, RuleSet]] = {}
        self._task: asyncio.Task[None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        rules_store.on_change(self.forget_rules)

    # --- life cycle ----------------------------------------------------------------------------------------

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._background(), name="tokentra-gateway-background")

    async def stop(self) -> None:
        rules_store.off_change(self.forget_rules)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.flush()
        await self.upstream.aclose()
        self.cache.close()
        self.executor.shutdown(wait=True)

    async def flush(self) -> None:
        """Everything buffered to the database now: cache writes, usage events, rule counters, cache hits."""
        await self.cache.write()
        await self.recorder.flush()
        await asyncio.get_running_loop().run_in_executor(self.executor, self._flush_stats)
        await self.cache.flush()

    async def _background(self) -> None:
        last_refresh = last_stats = last_poll = time.monotonic()
        while True:
            await asyncio.sleep(self.flush_seconds)
            await self._guarded(self.cache.write())
            await self.recorder.flush()
            now = time.monotonic()
            if now - last_poll >= CACHE_POLL_SECONDS:
                last_poll = now
                await self._guarded(self.cache.poll())
            if now - last_refresh >= self.enforcer.refresh_seconds:
                last_refresh = now
                await self._guarded(self.enforcer.refresh_all())
            if now - last_stats >= STATS_SECONDS:
                last_stats = now
                await self._guarded(asyncio.get_running_loop().run_in_executor(self.executor, self._flush_stats))

    @staticmethod
    async def _guarded(work: Awaitable[Any]) -> None:
        try:
            await work
        except SQLAlchemyError:
            log.exception("gateway background work failed; retried at the next tick")

    def _flush_stats(self) -> None:
        with self.db.session() as session:
            self.stats.flush(session)

    # --- auth and rules ------------------------------------------------------------------------------------

    async def authenticate(self, secret: str | None) -> Principal:
        if not secret:
            raise Unauthenticated("missing API key: send Authorization: Bearer <key>")
        principal = await self.keys.resolve(secret)
        if not allows(role=principal.role, scope=principal.scope, permission="use:gateway"):
            raise PermissionDenied(f"role {principal.role!r} may not use the gateway")
        return principal

    def forget_rules(self, org_id: uuid.UUID) -> None:
        self._rules.pop(org_id, None)

    async def rules_for(self, org_id: uuid.UUID) -> RuleSet:
        """The org's rules from memory; loaded on first use, then refreshed in the background when stale."""
        entry = self._rules.get(org_id)
        if entry is None:
            return await self._load_rules(org_id)
        if entry[0] < time.monotonic():
            self._rules[org_id] = (time.monotonic() + RULES_TTL_SECONDS, entry[1])
            asyncio.get_running_loop().create_task(self._load_rules(org_id))
        return entry[1]

    async def _load_rules(self, org_id: uuid.UUID) -> RuleSet:
        def load() -> RuleSet:
            with self.db.session() as session:
                return rules_store.load_rule_set(session, org_id=org_id)

        rules = await asyncio.get_running_loop().run_in_executor(self.executor, load)
        self._rules[org_id] = (time.monotonic() + RULES_TTL_SECONDS, rules)
        return rules

    # --- the steps before the upstream ---------------------------------------------------------------------

    async def _prepare(self, secret: str | None, body: Any, headers: Mapping[str, str], *, endpoint: str) -> Call:
        started = time.perf_counter()
        principal = await self.authenticate(secret)
        request = parse_chat(body, headers)
        org_id = principal.org_id
        if not self.enforcer.known(org_id):
            await self.enforcer.ensure(org_id)
        rules = await self.rules_for(org_id) if "routing" not in request.bypass else RuleSet([])
        prompt, system = split_texts(request.messages)
        facts = Facts(request, prompt, system, estimate_tokens(request.messages), endpoint=endpoint)
        remaining = self.enforcer.remaining(org_id, {**request.attributes, "model": request.model})
        facts.preset("budget_remaining", None if remaining is None else float(remaining))
        decision = rules.evaluate(facts, bucket_key=request.attributes["user"]) if rules else Decision()
        call = Call(principal, request, facts, decision, Choice(request.model, None), started)
        await self._apply_guards(call)
        if "routing" not in request.bypass:
            call.choice = choose(self.router, call.choice.group, decision, facts)
        if not self.router.has_group(call.choice.group):
            raise NotFound(f"model {call.choice.group!r} is not configured in the gateway")
        self._count_matches(call)
        self.accounts.reserve(call)
        return call

    async def _apply_guards(self, call: Call) -> None:
        """Block and rate-limit rules. Over a limit: reject (429), downgrade to the fallback model, queue (wait
        for room, at most QUEUE_SECONDS), or alert (let it through, counted)."""
        decision = call.decision
        if decision.block is not None:
            self.stats.matched(decision.block.id)
            raise PermissionDenied(decision.block.action.message or f"blocked by routing rule {decision.block.name!r}")
        for rule in decision.rate_limits:
            if self.limiter.admit(rule):
                continue
            self.stats.matched(rule.id)
            action = rule.action
            if action.action_on_exceed == "downgrade" and action.fallback_model:
                call.choice = Choice(action.fallback_model, rule)
            elif action.action_on_exceed == "queue" and await self._queued(rule):
                continue
            elif action.action_on_exceed != "alert":
                raise RateLimited(f"rate limit rule {rule.name!r}: window of {action.window_size_seconds}s is full")

    async def _queued(self, rule: CompiledRule) -> bool:
        deadline = time.monotonic() + min(QUEUE_SECONDS, rule.action.window_size_seconds)
        while time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            if self.limiter.admit(rule):
                return True
        return False

    def _count_matches(self, call: Call) -> None:
        decision = call.decision
        for rule in (decision.cache, decision.compress, *decision.alerts):
            if rule is not None:
                self.stats.matched(rule.id)
        if call.choice.rule is not None:
            self.stats.matched(call.choice.rule.id)
            call.extra_fallback = call.choice.rule.action.fallback_model
        if decision.compress is not None:
            call.request.body["messages"] = compressed(call.request.messages)

    # --- chat completions ----------------------------------------------------------------------------------

    async def chat(self, *, secret: str | None, body: Any, headers: Mapping[str, str]) -> GatewayResponse:
        call = await self._prepare(secret, body, headers, endpoint="chat")
        try:
            hit = await self.cache.lookup(call)
            if hit is not None:
                return self._cached(call, hit)
            if call.request.stream:
                return await self._stream(call)
            return await self._complete(call)
        except BaseException:
            self.accounts.settle(call, None)
            raise

    def _cached(self, call: Call, hit: CacheHit) -> GatewayResponse:
        call.cache_state = "hit"
        self.accounts.settle(call, None)
        saving = hit.saved_cost
        if call.decision.cache is not None and saving:
            self.stats.saved(call.decision.cache.id, saving)
        meta = {
            "cache": hit.kind,
            "saving": str(saving) if saving is not None else None,
            "cache_entry_id": str(hit.entry_id),
            "similarity": hit.similarity,
        }
        deployment = self.router.deployments(call.choice.group)[0]
        self.accounts.record(call, deployment, Usage(), cost=Decimal(0), attempts=0, extra=meta)
        return GatewayResponse(200, call.response_headers(call.choice.group), orjson.dumps(hit.response))

    async def _complete(self, call: Call) -> GatewayResponse:
        groups = self.upstream.groups(call.choice.group, extra_fallback=call.extra_fallback)
        upstream_started = time.perf_counter()
        try:
            reply = await self.upstream.complete(groups, call.request.body)
        except UpstreamFailure as failure:
            return self._failed(call, failure)
        upstream_seconds = time.perf_counter() - upstream_started
        usage = Usage.of(reply.body["usage"]) if reply.body.get("usage") else estimated_usage(call, reply.body)
        cost = self.accounts.account(
            call, reply.deployment, usage, attempts=reply.attempts, finish=finish_reason(reply.body)
        )
        self.cache.remember(call, reply.body, usage, cost)
        GATEWAY_REQUESTS.labels("chat", "ok").inc()
        GATEWAY_OVERHEAD.observe(max(0.0, time.perf_counter() - call.started - upstream_seconds))
        body = reply.raw if reply.raw is not None else orjson.dumps(reply.body)
        return GatewayResponse(200, call.response_headers(reply.deployment.group), body)

    async def _stream(self, call: Call) -> GatewayResponse:
        groups = self.upstream.groups(call.choice.group, extra_fallback=call.extra_fallback)
        try:
            reply = await self.upstream.stream(groups, call.request.body)
        except UpstreamFailure as failure:
            return self._failed(call, failure)

        def done(usage: dict[str, Any] | None, finish: str | None, ttft: float | None, status: str, chars: int) -> None:
            tokens = Usage.of(usage) if usage else Usage(call.facts.input_tokens, -(-chars // 4))
            self.accounts.account(
                call,
                reply.deployment,
                tokens,
                attempts=reply.attempts,
                finish=finish,
                status=status,
                ttft_ms=ttft,
                streaming=True,
            )
            GATEWAY_REQUESTS.labels("chat_stream", status).inc()

        chunks = relay(reply.chunks, include_usage=call.request.wants_usage_chunk, started=call.started, done=done)
        headers = {
            **call.response_headers(reply.deployment.group),
            "content-type": "text/event-stream",
            "cache-control": "no-cache",
        }
        return GatewayResponse(200, headers, stream=chunks)

    def _failed(self, call: Call, failure: UpstreamFailure) -> GatewayResponse:
        """Every attempt failed (or the upstream refused the request): its status for a client error, else 502."""
        self.accounts.settle(call, None)
        status = failure.status if failure.status is not None and 400 <= failure.status < 500 else 502
        code = "timeout" if failure.status is None else ("server_error" if status == 502 else str(failure.status))
        deployment = self.router.deployments(call.choice.group)[0]
        self.accounts.record(call, deployment, Usage(), cost=Decimal(0), attempts=1, status="error", error_code=code)
        GATEWAY_REQUESTS.labels(call.facts.endpoint, "error").inc()
        error = {"error": {"code": "upstream_error", "type": "upstream_error", "message": str(failure)}}
        body = failure.body if status != 502 and failure.body else orjson.dumps(error)
        return GatewayResponse(status, call.response_headers(call.choice.group), body)

    # --- embeddings and models -----------------------------------------------------------------------------

    async def embeddings(self, *, secret: str | None, body: Any, headers: Mapping[str, str]) -> GatewayResponse:
        if not isinstance(body, dict) or not isinstance(body.get("input"), str | list):
            raise InvalidInput("input: required (a string or a list)")
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        as_chat = {**body, "messages": [{"role": "user", "content": " ".join(str(t) for t in texts)}]}
        call = await self._prepare(secret, as_chat, headers, endpoint="embeddings")
        try:
            groups = self.upstream.groups(call.choice.group, extra_fallback=call.extra_fallback)
            reply = await self.upstream.complete(groups, body, endpoint="embeddings")
        except UpstreamFailure as failure:
            return self._failed(call, failure)
        except BaseException:
            self.accounts.settle(call, None)
            raise
        usage = Usage.of(reply.body.get("usage"))
        self.accounts.account(call, reply.deployment, Usage(usage.input, 0), attempts=reply.attempts, finish=None)
        GATEWAY_REQUESTS.labels("embeddings", "ok").inc()
        content = reply.raw if reply.raw is not None else orjson.dumps(reply.body)
        return GatewayResponse(200, call.response_headers(reply.deployment.group), content)

    async def models(self, *, secret: str | None) -> dict[str, Any]:
        await self.authenticate(secret)
        data = [
            {"id": group, "object": "model", "created": 0, "owned_by": self.router.deployments(group)[0].provider}
            for group in self.router.groups
        ]
        return {"object": "list", "data": data}
