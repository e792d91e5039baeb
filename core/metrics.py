"""Prometheus metrics shared by the API, the gateway, ingest and our own model calls (served at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

HTTP_REQUESTS = Counter("tokentra_http_requests_total", "HTTP requests", ["method", "route", "status"])
HTTP_LATENCY = Histogram("tokentra_http_request_seconds", "HTTP request latency", ["method", "route"])
INGESTED_EVENTS = Counter("tokentra_ingested_events_total", "Usage events accepted", ["source"])
INGEST_DUPLICATES = Counter("tokentra_ingest_duplicates_total", "Usage events skipped as duplicates", ["source"])
INGEST_REJECTED = Counter("tokentra_ingest_rejected_total", "Usage events rejected as invalid", ["source"])
GATEWAY_REQUESTS = Counter("tokentra_gateway_requests_total", "Gateway calls", ["endpoint", "status"])
GATEWAY_CACHE = Counter("tokentra_gateway_cache_total", "Gateway response cache lookups", ["result"])
GATEWAY_OVERHEAD = Histogram(
    "tokentra_gateway_overhead_seconds",
    "Time the gateway adds around the upstream call",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1),
)
OWN_LLM_TOKENS = Counter("tokentra_own_llm_tokens_total", "Tokens of TokenTRA's own model calls", ["tier", "kind"])
OWN_LLM_SPEND = Counter("tokentra_own_llm_spend_usd_total", "USD spent on TokenTRA's own model calls", ["tier"])
