"""The LiteLLM Router for customer traffic (TOKENTRA_GATEWAY_CONFIG), used to CHOOSE, not to call.

The config is LiteLLM's own YAML: `model_list` (each `model_name` with `litellm_params`: model, api_base,
api_key, …) and optional `router_settings` (fallbacks, num_retries, timeout, cooldown_time, allowed_fails,
routing_strategy, …). The Router picks a deployment of a model group (its routing strategy, cooldowns of
failing deployments) and learns failures through `report_failure`; the call itself goes out on the gateway's
lean path (core/gateway/upstream.py): a pooled HTTP client for OpenAI-compatible deployments, and
`litellm.acompletion` / `litellm.aembedding` with the deployment's parameters for every other provider
(measured on this machine: Router.acompletion adds ~2.8 ms p50 over a raw call, litellm.acompletion ~0.9 ms).

Only core/routing imports litellm; LITELLM_LOCAL_MODEL_COST_MAP=True is set before it is imported.
"""

from __future__ import annotations

import os

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import litellm
import openai
import yaml
from litellm.exceptions import APIConnectionError, BadRequestError, InternalServerError, RateLimitError
from litellm.router import Router
from litellm.router_utils.cooldown_handlers import async_get_cooldown_deployments

from core.errors import InvalidInput

# router_settings keys passed to litellm.Router (others in the YAML are ignored, e.g. proxy-only ones).
ROUTER_SETTINGS = (
    "fallbacks",
    "num_retries",
    "timeout",
    "stream_timeout",
    "cooldown_time",
    "allowed_fails",
    "routing_strategy",
    "retry_after",
    "context_window_fallbacks",
    "content_policy_fallbacks",
    "model_group_alias",
)
OPENAI_COMPATIBLE = frozenset({"openai", "custom_openai", "hosted_vllm", "lm_studio", "llamafile"})
DEFAULT_TIMEOUT = 60.0
DEFAULT_RETRIES = 2


class UpstreamFailure(Exception):
    """An upstream call failed: `status` is the HTTP status it answered (None: no answer, e.g. refused or timed
    out); `body` the upstream's error body when there was one."""

    def __init__(self, status: int | None, message: str, *, body: bytes | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


def _translated(exc: openai.APIError) -> UpstreamFailure:
    status = getattr(exc, "status_code", None)
    return UpstreamFailure(status if isinstance(status, int) else None, str(exc))


@dataclass(frozen=True)
class Deployment:
    """One upstream deployment of a model group, as the gateway calls it."""

    id: str
    group: str
    provider: str  # LiteLLM's provider name: openai, anthropic, azure, …
    model: str  # the provider's model name (no provider prefix)
    api_base: str | None
    api_key: str | None
    litellm_params: dict[str, Any]

    @property
    def openai_compatible(self) -> bool:
        return self.provider in OPENAI_COMPATIBLE


def load_config(path: Path) -> dict[str, Any]:
    """The gateway YAML; InvalidInput when it is not a LiteLLM Router config."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput(f"cannot read gateway config {path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("model_list"), list) or not data["model_list"]:
        raise InvalidInput(f"gateway config {path} needs a non-empty model_list (LiteLLM Router format)")
    return data


def _resolve_env(value: Any) -> Any:
    """LiteLLM's `os.environ/NAME` references in litellm_params."""
    if isinstance(value, str) and value.startswith("os.environ/"):
        return os.environ.get(value.removeprefix("os.environ/"))
    return value


class GatewayRouter:
    def __init__(self, config: dict[str, Any]) -> None:
        model_list = [
            {**entry, "litellm_params": {k: _resolve_env(v) for k, v in entry.get("litellm_params", {}).items()}}
            for entry in config["model_list"]
        ]
        settings = {k: v for k, v in (config.get("router_settings") or {}).items() if k in ROUTER_SETTINGS}
        self.num_retries = int(settings.pop("num_retries", DEFAULT_RETRIES))
        self.timeout = float(settings.pop("timeout", DEFAULT_TIMEOUT))
        self.stream_timeout = float(settings.pop("stream_timeout", self.timeout))
        self._fallbacks: dict[str, list[str]] = {}
        for item in settings.get("fallbacks") or []:
            for group, targets in item.items():
                self._fallbacks[group] = list(targets)
        # Retries and fallbacks are the gateway's (bounded, across deployments); the Router only chooses.
        self.router = Router(model_list=model_list, num_retries=0, timeout=self.timeout, **settings)
        self._deployments: dict[str, Deployment] = {}
        for entry in self.router.model_list:
            deployment = _deployment(entry)
            self._deployments[deployment.id] = deployment
        self.groups = tuple(dict.fromkeys(d.group for d in self._deployments.values()))
        self._by_group = {group: [d for d in self._deployments.values() if d.group == group] for group in self.groups}
        self._single = {group: found[0] for group, found in self._by_group.items() if len(found) == 1}

    @classmethod
    def from_file(cls, path: Path) -> GatewayRouter:
        return cls(load_config(path))

    def has_group(self, group: str) -> bool:
        return group in self.groups

    def fallbacks(self, group: str) -> list[str]:
        return [g for g in self._fallbacks.get(group, []) if self.has_group(g)]

    def deployments(self, group: str) -> list[Deployment]:
        return self._by_group.get(group, [])

    async def choose(self, group: str, *, exclude: frozenset[str] = frozenset()) -> Deployment | None:
        """A deployment of `group` by the Router's strategy (cooling-down ones skipped); one not in `exclude`
        when the Router's pick was already tried; None when none is left. A group of one deployment needs no
        choosing (its failures still count: the gateway then moves on to the fallback groups)."""
        only = self._single.get(group)
        if only is not None:
            return None if only.id in exclude else only
        try:
            picked = await self.router.async_get_available_deployment(model=group, request_kwargs={})
        except (ValueError, BadRequestError):  # RouterRateLimitError is a ValueError
            picked = None  # every deployment cooling down (or no such group)
        if isinstance(picked, dict):
            chosen = self._deployments.get(str(picked["model_info"]["id"]))
            if chosen is not None and chosen.id not in exclude:
                return chosen
        cooling = set(await async_get_cooldown_deployments(self.router, None))
        rest = [d for d in self.deployments(group) if d.id not in exclude]
        healthy = [d for d in rest if d.id not in cooling]
        candidates = healthy or rest
        return candidates[0] if candidates else None

    def report_failure(self, deployment: Deployment, error: BaseException, *, status: int | None) -> None:
        """Count a failed call against the deployment (the Router cools it down past allowed_fails)."""
        exception = _as_litellm_error(error, status=status, deployment=deployment)
        now = time.time()
        self.router.deployment_callback_on_failure(
            kwargs={
                "exception": exception,
                "litellm_params": {"model_info": {"id": deployment.id}, "metadata": {"model_group": deployment.group}},
            },
            completion_response=None,
            start_time=now,
            end_time=now,
        )

    async def completion(self, deployment: Deployment, payload: dict[str, Any]) -> dict[str, Any]:
        """A non-OpenAI-compatible deployment's answer in OpenAI's shape, through litellm.acompletion."""
        params = {**payload, **deployment.litellm_params, "num_retries": 0, "timeout": self.timeout}
        params.pop("stream", None)
        try:
            response = await litellm.acompletion(**params)
        except openai.APIError as exc:
            raise _translated(exc) from exc
        body: dict[str, Any] = response.model_dump(exclude_none=True)
        return body

    async def completion_stream(self, deployment: Deployment, payload: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        params = {**payload, **deployment.litellm_params, "num_retries": 0, "timeout": self.stream_timeout}
        params.update(stream=True, stream_options={"include_usage": True})
        try:
            stream = await litellm.acompletion(**params)
        except openai.APIError as exc:
            raise _translated(exc) from exc
        async for chunk in stream:
            yield chunk.model_dump(exclude_none=True)

    async def embedding(self, deployment: Deployment, payload: dict[str, Any]) -> dict[str, Any]:
        params = {**payload, **deployment.litellm_params, "num_retries": 0, "timeout": self.timeout}
        try:
            response = await litellm.aembedding(**params)
        except openai.APIError as exc:
            raise _translated(exc) from exc
        body: dict[str, Any] = response.model_dump(exclude_none=True)
        return body


def _deployment(entry: dict[str, Any]) -> Deployment:
    params = dict(entry["litellm_params"])
    model, provider, _, _ = litellm.get_llm_provider(model=params["model"], api_base=params.get("api_base"))
    return Deployment(
        id=str(entry["model_info"]["id"]),
        group=str(entry["model_name"]),
        provider=str(provider),
        model=str(model),
        api_base=params.get("api_base"),
        api_key=params.get("api_key"),
        litellm_params=params,
    )


def _as_litellm_error(error: BaseException, *, status: int | None, deployment: Deployment) -> Exception:
    """The LiteLLM exception type its cooldown logic reads (status_code decides: 429, 5xx, timeouts)."""
    message, provider, model = str(error) or type(error).__name__, deployment.provider, deployment.model
    if status == 429:
        return RateLimitError(message=message, llm_provider=provider, model=model)
    if status is None:
        return APIConnectionError(message=message, llm_provider=provider, model=model)
    return InternalServerError(message=message, llm_provider=provider, model=model)
