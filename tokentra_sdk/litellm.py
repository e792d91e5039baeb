"""A LiteLLM callback that records every call's usage to TokenTRA (in the background, like wrap()).

    import litellm
    from tokentra_sdk.litellm import TokenTRACallback
    litellm.callbacks = [TokenTRACallback(api_key="tt_live_…", base_url="https://tokentra.example", team="search")]

Importing this module imports litellm (nothing else in tokentra_sdk does). Per-call attribution can be given
in LiteLLM's `metadata={"tokentra": {"feature": "…", "user_id": "…"}}` (or `metadata={"team": …}`).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from litellm.integrations.custom_logger import CustomLogger

from tokentra_sdk.events import ATTRIBUTION, as_dict, base_event, clean_usage
from tokentra_sdk.recorder import Recorder
from tokentra_sdk.wrap import shared_recorder

log = logging.getLogger("tokentra_sdk")

CALL_TYPES = {
    "embedding": "embeddings", "aembedding": "embeddings", "responses": "responses", "aresponses": "responses",
    "text_completion": "completions", "atext_completion": "completions",
}  # fmt: skip
_BUILD_ERRORS = (AttributeError, TypeError, ValueError, KeyError)


class TokenTRACallback(CustomLogger):
    """Success and failure hooks (sync and async) → one usage event per LiteLLM call."""

    def __init__(
        self, *, api_key: str | None = None, base_url: str | None = None, recorder: Recorder | None = None,
        **defaults: str,
    ) -> None:  # fmt: skip
        super().__init__()
        if recorder is None:
            if not api_key or not base_url:
                raise TypeError("TokenTRACallback needs api_key and base_url, or a recorder")
            recorder = shared_recorder(api_key=api_key, base_url=base_url)
        unknown = set(defaults) - set(ATTRIBUTION)
        if unknown:
            raise TypeError(f"unknown attribution field(s): {', '.join(sorted(unknown))}")
        self.recorder = recorder
        self.defaults = defaults

    def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        self._record(kwargs, response_obj, start_time, end_time, error=None)

    def log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        self._record(kwargs, response_obj, start_time, end_time, error=kwargs.get("exception"))

    async def async_log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        self._record(kwargs, response_obj, start_time, end_time, error=None)

    async def async_log_failure_event(self, kwargs: Any, response_obj: Any, start_time: Any, end_time: Any) -> None:
        self._record(kwargs, response_obj, start_time, end_time, error=kwargs.get("exception"))

    def _record(self, kwargs: Any, response: Any, start: Any, end: Any, *, error: Any) -> None:
        try:
            event = self._event(kwargs, response, start, end, error)
        except _BUILD_ERRORS as exc:
            self.recorder.stats.add("errors")
            log.debug("could not build a usage event from a LiteLLM call: %s", exc)
            return
        self.recorder.record(event)

    def _event(self, kwargs: dict[str, Any], response: Any, start: Any, end: Any, error: Any) -> dict[str, Any]:
        logged: dict[str, Any] = kwargs.get("standard_logging_object") or {}
        params = kwargs.get("litellm_params") or {}
        provider = logged.get("custom_llm_provider") or params.get("custom_llm_provider") or "unknown"
        endpoint = CALL_TYPES.get(str(logged.get("call_type") or kwargs.get("call_type") or ""), "chat")
        started = start.timestamp() if isinstance(start, datetime) else float(logged.get("startTime") or 0)
        event = base_event(provider=str(provider), endpoint=endpoint, kwargs={"model": kwargs.get("model")},
                           started=started, defaults={**self.defaults, **_metadata_attribution(params)})  # fmt: skip
        # litellm_call_id is unique per call (a response id repeats on cache hits and with some providers)
        call_id = kwargs.get("litellm_call_id") or logged.get("id") or event["request_id"]
        event["request_id"] = f"litellm-{call_id}"
        model = str(getattr(response, "model", None) or logged.get("model") or kwargs.get("model") or "unknown")
        event["model"] = model.removeprefix(f"{provider}/")
        if isinstance(start, datetime) and isinstance(end, datetime):
            event["latency_ms"] = round((end - start).total_seconds() * 1000, 3)
        event["streaming"] = bool(logged.get("stream") or kwargs.get("stream"))
        usage = as_dict(getattr(response, "usage", None)) if response is not None else None
        if usage:
            event["usage"] = clean_usage(usage)
        elif logged.get("prompt_tokens") is not None and error is None:
            event["input_tokens"] = int(logged.get("prompt_tokens") or 0)
            event["output_tokens"] = int(logged.get("completion_tokens") or 0)
        else:
            event.update(input_tokens=0, output_tokens=0)
        if error is not None or logged.get("status") == "failure":
            name = type(error).__name__ if error is not None else "error"
            event.update(status="timeout" if "Timeout" in name else "error",
                         error_code="rate_limited" if "RateLimit" in name else name)  # fmt: skip
        if logged.get("response_cost") is not None:
            event["reported_cost"] = str(logged["response_cost"])
        if logged.get("cache_hit"):
            event["metadata"] = {"litellm_cache_hit": True}
        return event


def _metadata_attribution(params: dict[str, Any]) -> dict[str, str]:
    metadata = params.get("metadata") or {}
    if not isinstance(metadata, dict):
        return {}
    nested = metadata.get("tokentra")
    nested = nested if isinstance(nested, dict) else {}
    merged = {**{k: v for k, v in metadata.items() if k in ATTRIBUTION}, **nested}
    return {k: str(v) for k, v in merged.items() if k in ATTRIBUTION and v}
