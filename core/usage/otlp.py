"""OTLP traces → usage events, from the OpenTelemetry GenAI semantic conventions.

Accepted: OTLP/HTTP JSON (`application/json`) and protobuf (`application/x-protobuf`, what the official
exporters send), optionally gzip-compressed. Every span that describes a model call becomes one event
(CONTRACT section 5); other spans (HTTP handlers, tools, agents without usage) are skipped.

A span is a model call when it carries `gen_ai.usage.input_tokens` / `output_tokens` (or the older
`gen_ai.usage.prompt_tokens` / `completion_tokens`), or a model name with an inference operation.

| event field | span / resource attribute (first present wins; span attributes before resource ones) |
|---|---|
| request_id | `otel:<trace id>:<span id>` (re-exporting a span is a duplicate, never a second event) |
| timestamp, latency_ms | span start time; end − start |
| provider | `gen_ai.provider.name`, `gen_ai.system` (OpenTelemetry names mapped: `aws.bedrock` → bedrock …) |
| model | `gen_ai.response.model`, `gen_ai.request.model` |
| endpoint | `gen_ai.operation.name`: chat / generate_content → chat, text_completion → completions, embeddings |
| input_tokens, output_tokens | `gen_ai.usage.input_tokens`, `gen_ai.usage.output_tokens` |
| cache_read_tokens | `gen_ai.usage.cache_read.input_tokens` |
| cache_write_tokens | `gen_ai.usage.cache_creation.input_tokens` |
| reasoning_tokens | `gen_ai.usage.reasoning.output_tokens` |
| status, error_code | span status ERROR → error (timeout when `error.type` says so); `error.type` |
| trace_id | the span's trace id |
| finish_reason, max_tokens | `gen_ai.response.finish_reasons[0]`, `gen_ai.request.max_tokens` |
| embedding_dimensions | `gen_ai.embeddings.dimension.count` |
| team | `tokentra.team`, `team` |
| project | `tokentra.project`, `project`, `service.name` |
| feature | `tokentra.feature`, `feature`, `gen_ai.agent.name` |
| user_id | `tokentra.user_id`, `user.id`, `enduser.id` |
| environment | `tokentra.environment`, `deployment.environment.name`, `deployment.environment` |
| task_type | `tokentra.task_type` |
| metadata | `gen_ai.conversation.id`, `gen_ai.response.id`, span name, `service.name` |

Instrumentations that count Anthropic cache tokens outside `input_tokens` (the provider's own
convention) would give cache counts larger than the input; those are added to the input once.
"""

from __future__ import annotations

import gzip
import io
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

import orjson

from core.errors import InvalidInput
from core.usage.events import InvalidEvent

OTEL_PROVIDERS = {
    "aws.bedrock": "bedrock", "azure.ai.openai": "azure", "azure.ai.inference": "azure_ai",
    "gcp.gemini": "gemini", "gcp.gen_ai": "gemini", "gcp.vertex_ai": "vertex_ai", "mistral_ai": "mistral",
    "x_ai": "xai", "ibm.watsonx.ai": "watsonx", "az.ai.openai": "azure", "az.ai.inference": "azure_ai",
}  # fmt: skip
ENDPOINTS = {"chat": "chat", "generate_content": "chat", "text_completion": "completions",
             "embeddings": "embeddings", "responses": "responses"}  # fmt: skip
ATTRIBUTION = {
    "team": ("tokentra.team", "team"),
    "project": ("tokentra.project", "project", "service.name"),
    "feature": ("tokentra.feature", "feature", "gen_ai.agent.name"),
    "user_id": ("tokentra.user_id", "user.id", "enduser.id"),
    "environment": ("tokentra.environment", "deployment.environment.name", "deployment.environment"),
    "task_type": ("tokentra.task_type",),
}
_INPUT = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
_OUTPUT = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
_CACHE_READ = "gen_ai.usage.cache_read.input_tokens"
_CACHE_WRITE = "gen_ai.usage.cache_creation.input_tokens"
_REASONING = "gen_ai.usage.reasoning.output_tokens"
_STATUS_ERROR = 2
MAX_NANOS = 7_258_118_400 * 10**9  # 2200-01-01
MAX_LATENCY_NS = 86_400 * 10**9  # a longer span keeps its tokens but gets no latency
MAX_SINGLE_DOCUMENT = 64 * 1024 * 1024  # a file this small may be one pretty-printed document


@dataclass(frozen=True, slots=True)
class Span:
    """A span reduced to what the mapping needs, from either wire format."""

    trace_id: str
    span_id: str
    name: str
    start_ns: int
    end_ns: int
    status_code: int
    status_message: str
    attributes: dict[str, Any]
    resource: dict[str, Any]


@dataclass
class OtlpBatch:
    """What a request's spans became: (index, event or the reason it is invalid); skipped spans counted."""

    items: list[tuple[int, dict[str, Any] | InvalidEvent]]
    skipped: int = 0


# --- wire formats → Span ----------------------------------------------------------------------------------


def decode_request(body: bytes, *, content_type: str, content_encoding: str = "") -> list[Span]:
    """An ExportTraceServiceRequest body (JSON or protobuf, optionally gzip) → its spans; raises InvalidInput."""
    if content_encoding.strip().lower() == "gzip":
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError) as exc:
            raise InvalidInput(f"the body is not valid gzip: {exc}") from None
    kind = content_type.split(";")[0].strip().lower()
    if kind in ("application/x-protobuf", "application/protobuf"):
        return spans_from_protobuf(body)
    if kind in ("application/json", ""):
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise InvalidInput(f"the body is not valid JSON: {exc}") from None
        return spans_from_json(document)
    raise InvalidInput(f"unsupported content type {content_type!r}: use application/json or application/x-protobuf")


def _json_value(value: Any) -> Any:
    """An OTLP JSON AnyValue → a Python value."""
    if not isinstance(value, Mapping):
        return None
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:  # int64 travels as a string in OTLP JSON
        try:
            return int(value["intValue"])
        except (TypeError, ValueError):
            return None
    if "doubleValue" in value:
        return value["doubleValue"]
    if "boolValue" in value:
        return value["boolValue"]
    if "arrayValue" in value:
        items = _map(value["arrayValue"]).get("values")
        return [_json_value(item) for item in items] if isinstance(items, list) else []
    if "kvlistValue" in value:
        return _json_attributes(_map(value["kvlistValue"]).get("values"))
    return None


def _json_attributes(items: Any) -> dict[str, Any]:
    if not isinstance(items, list):
        return {}
    return {item["key"]: _json_value(item.get("value")) for item in items
            if isinstance(item, Mapping) and isinstance(item.get("key"), str)}  # fmt: skip


def _map(value: Any) -> Mapping[str, Any]:
    """A JSON object, or an empty one for anything else (null, or a wrong type where leniency is harmless)."""
    return value if isinstance(value, Mapping) else {}


def _list(obj: Any, key: str) -> list[Mapping[str, Any]]:
    """obj[key] as a list of objects; InvalidInput when it is something else."""
    value = obj.get(key) if isinstance(obj, Mapping) else None
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, Mapping) for item in value):
        raise InvalidInput(f"{key} must be a list of objects")
    return value


def spans_from_json(document: Any) -> list[Span]:
    """OTLP JSON (`{"resourceSpans": [...]}`) → spans; raises InvalidInput on a wrong shape."""
    if not isinstance(document, Mapping):
        raise InvalidInput('the body must be an OTLP JSON object {"resourceSpans": [...]}')
    spans = []
    for resource_spans in _list(document, "resourceSpans"):
        resource = _json_attributes(_map(resource_spans.get("resource")).get("attributes"))
        for scope_spans in _list(resource_spans, "scopeSpans"):
            for raw in _list(scope_spans, "spans"):
                status = _map(raw.get("status"))
                spans.append(Span(
                    trace_id=str(raw.get("traceId", "")), span_id=str(raw.get("spanId", "")),
                    name=str(raw.get("name", "")), start_ns=_nanos(raw.get("startTimeUnixNano")),
                    end_ns=_nanos(raw.get("endTimeUnixNano")), status_code=_status_code(status.get("code")),
                    status_message=str(status.get("message") or ""),
                    attributes=_json_attributes(raw.get("attributes")), resource=resource,
                ))  # fmt: skip
    return spans


def _nanos(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _status_code(value: Any) -> int:
    names = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}
    if isinstance(value, str):
        return names.get(value, _nanos(value))
    return value if isinstance(value, int) else 0


def spans_from_protobuf(body: bytes) -> list[Span]:
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as exc:
        raise InvalidInput(f"the body is not a valid OTLP protobuf ExportTraceServiceRequest: {exc}") from None
    spans = []
    for resource_spans in request.resource_spans:
        resource = _pb_attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for raw in scope_spans.spans:
                spans.append(Span(
                    trace_id=raw.trace_id.hex(), span_id=raw.span_id.hex(), name=raw.name,
                    start_ns=raw.start_time_unix_nano, end_ns=raw.end_time_unix_nano,
                    status_code=raw.status.code, status_message=raw.status.message,
                    attributes=_pb_attributes(raw.attributes), resource=resource,
                ))  # fmt: skip
    return spans


def _pb_attributes(items: Any) -> dict[str, Any]:
    return {item.key: _pb_value(item.value) for item in items}


def _pb_value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_pb_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return _pb_attributes(value.kvlist_value.values)
    return None if kind is None else getattr(value, kind)


# --- Span → event -----------------------------------------------------------------------------------------


def is_model_call(span: Span) -> bool:
    attrs = span.attributes
    if any(name in attrs for name in (*_INPUT, *_OUTPUT)):
        return True
    has_model = "gen_ai.request.model" in attrs or "gen_ai.response.model" in attrs
    return has_model and str(attrs.get("gen_ai.operation.name", "chat")) in ENDPOINTS


def _first(span: Span, names: tuple[str, ...], *, resource: bool = True) -> Any:
    for source in (span.attributes, span.resource) if resource else (span.attributes,):
        for name in names:
            value = source.get(name)
            if value not in (None, "", []):
                return value
    return None


def _count(span: Span, names: tuple[str, ...]) -> int:
    value = _first(span, names, resource=False)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0 \
            or value != int(value):  # fmt: skip
        raise InvalidEvent(f"{names[0]}: expected a non-negative integer, got {value!r}")
    return int(value)


def span_to_event(span: Span) -> dict[str, Any]:
    """One model-call span → an event dict (validated later as any event); raises InvalidEvent."""
    provider = _first(span, ("gen_ai.provider.name", "gen_ai.system"))
    model = _first(span, ("gen_ai.response.model", "gen_ai.request.model"), resource=False)
    if not provider or not model:
        raise InvalidEvent("a gen_ai span needs gen_ai.provider.name (or gen_ai.system) and a model")
    if not span.trace_id or not span.span_id or not 0 < span.start_ns < MAX_NANOS:
        raise InvalidEvent("a span needs traceId, spanId and a startTimeUnixNano before year 2200")
    provider = str(provider).lower()
    inputs, outputs = _count(span, _INPUT), _count(span, _OUTPUT)
    cache_read, cache_write = _count(span, (_CACHE_READ,)), _count(span, (_CACHE_WRITE,))
    if cache_read + cache_write > inputs:
        inputs += cache_read + cache_write  # counted outside input_tokens (Anthropic's own convention)
    event: dict[str, Any] = {
        "request_id": f"otel:{span.trace_id}:{span.span_id}",
        "timestamp": datetime.fromtimestamp(span.start_ns / 1e9, UTC).isoformat(),
        "provider": OTEL_PROVIDERS.get(provider, provider), "model": str(model),
        "endpoint": ENDPOINTS.get(str(span.attributes.get("gen_ai.operation.name", "chat")), "chat"),
        "input_tokens": inputs, "output_tokens": outputs, "cache_read_tokens": cache_read,
        "cache_write_tokens": cache_write, "reasoning_tokens": _count(span, (_REASONING,)),
        "trace_id": span.trace_id,
    }  # fmt: skip
    if 0 <= span.end_ns - span.start_ns <= MAX_LATENCY_NS:
        event["latency_ms"] = round((span.end_ns - span.start_ns) / 1e6, 3)
    event.update(_status(span))
    event.update(_details(span))
    return event


def _status(span: Span) -> dict[str, Any]:
    error_type = span.attributes.get("error.type")
    if span.status_code != _STATUS_ERROR and not error_type:
        return {}
    code = str(error_type or span.status_message or "error")[:255]
    timeout = "timeout" in code.lower() or "timed out" in span.status_message.lower()
    return {"status": "timeout" if timeout else "error", "error_code": code}


def _details(span: Span) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field, names in ATTRIBUTION.items():
        value = _first(span, names)
        if value is not None:
            out[field] = str(value)[:255]
    reasons = span.attributes.get("gen_ai.response.finish_reasons")
    if isinstance(reasons, list) and reasons and isinstance(reasons[0], str):
        out["finish_reason"] = reasons[0][:255]
    for field, name in (("max_tokens", "gen_ai.request.max_tokens"),
                        ("embedding_dimensions", "gen_ai.embeddings.dimension.count")):  # fmt: skip
        value = span.attributes.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            out[field] = value
    metadata = {key: span.attributes[name] for key, name in (("conversation_id", "gen_ai.conversation.id"),
                ("response_id", "gen_ai.response.id")) if isinstance(span.attributes.get(name), str)}  # fmt: skip
    metadata["span_name"] = span.name
    if isinstance(span.resource.get("service.name"), str):
        metadata["service_name"] = span.resource["service.name"]
    out["metadata"] = metadata
    return out


def spans_to_events(spans: list[Span]) -> OtlpBatch:
    """Model-call spans → (index among the request's spans, event or error); other spans are skipped."""
    batch = OtlpBatch(items=[])
    for index, span in enumerate(spans):
        if not is_model_call(span):
            batch.skipped += 1
            continue
        try:
            batch.items.append((index, span_to_event(span)))
        except InvalidEvent as exc:
            batch.items.append((index, exc))
    return batch


def parse_item(item: dict[str, Any] | InvalidEvent) -> dict[str, Any]:
    """For ingest's `parse`: an event dict passes, a span that did not map raises its reason."""
    if isinstance(item, InvalidEvent):
        raise item
    return item


def otlp_json_items(stream: IO[bytes]) -> Iterator[tuple[int, dict[str, Any] | InvalidEvent]]:
    """An OTLP JSON file → (line number, event or error) for every model-call span. The file is one
    ExportTraceServiceRequest per line (as the Collector's file exporter writes) or a single document."""
    head = stream.read(MAX_SINGLE_DOCUMENT + 1)
    if len(head) <= MAX_SINGLE_DOCUMENT:
        try:
            document = orjson.loads(head)
        except orjson.JSONDecodeError:
            document = None  # not one document: read it as JSON lines
        if isinstance(document, Mapping):
            yield from _document_items(1, document)
            return
    for number, line in enumerate(_lines(head, stream), start=1):
        if line.strip():
            try:
                document = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                yield number, InvalidEvent(f"not an OTLP JSON traces document: {exc}")
                continue
            yield from _document_items(number, document)


def _lines(head: bytes, stream: IO[bytes]) -> Iterator[bytes]:
    """The lines of head + the rest of the stream (a line cut at the end of head is joined up)."""
    last = b""
    for line in io.BytesIO(head):
        if line.endswith(b"\n"):
            yield line
        else:
            last = line
    if last:
        yield last + stream.readline()
    yield from stream


def _document_items(number: int, document: Any) -> Iterator[tuple[int, dict[str, Any] | InvalidEvent]]:
    try:
        spans = spans_from_json(document)
    except InvalidInput as exc:
        yield number, InvalidEvent(f"not an OTLP JSON traces document: {exc}")
        return
    for _, item in spans_to_events(spans).items:
        yield number, item
