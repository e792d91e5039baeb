"""The background recorder: a bounded queue and a daemon thread that posts usage events to TokenTRA in batches.

`record()` never blocks and never raises: when the queue is full (TokenTRA slow or down for long) the event
is dropped and counted. The thread sends a batch when it has `batch_size` events or `flush_interval` seconds
passed, retries a failed batch a couple of times (the same request ids, so the server counts a repeat as a
duplicate, never twice), then drops it and counts it. `flush()` waits (bounded) for what is queued;
`close()` runs at interpreter exit.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

log = logging.getLogger("tokentra_sdk")

TRACK_PATH = "/api/sdk/v1/track"
SDK_VERSION = "0.1.0"


@dataclass
class Stats:
    recorded: int = 0
    sent: int = 0  # accepted or duplicate on the server
    rejected: int = 0  # the server refused the event (reported per event)
    dropped: int = 0  # queue full, or the batch could not be delivered after retries
    errors: int = 0  # an event could not be built from a response (the call itself was unaffected)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str, count: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + count)


class Recorder:
    """Sends usage events to `base_url` + /api/sdk/v1/track with `api_key`, in the background."""

    def __init__(
        self, *, api_key: str, base_url: str, batch_size: int = 100, flush_interval: float = 2.0,
        max_queue: int = 10_000, timeout: float = 5.0, retries: int = 2, transport: httpx.BaseTransport | None = None,
    ) -> None:  # fmt: skip
        self.url = base_url.rstrip("/") + TRACK_PATH
        self.batch_size, self.flush_interval, self.retries = batch_size, flush_interval, retries
        self.stats = Stats()
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=max_queue)
        self._pending = 0  # recorded and not yet sent or dropped
        self._pending_lock = threading.Condition()
        self._stop = threading.Event()
        headers = {"Authorization": f"Bearer {api_key}", "X-SDK-Language": "python", "X-SDK-Version": SDK_VERSION}
        self._http = httpx.Client(headers=headers, timeout=timeout, transport=transport)
        self._thread = threading.Thread(target=self._run, name="tokentra-recorder", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def record(self, event: dict[str, Any]) -> None:
        """Queue one event; never blocks, never raises."""
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self.stats.add("dropped")
            return
        self.stats.add("recorded")
        with self._pending_lock:
            self._pending += 1

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued event was sent or dropped; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._pending_lock:
            while self._pending > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._pending_lock.wait(min(left, 0.05))
        return True

    def close(self, timeout: float = 3.0) -> None:
        """Flush (bounded), then stop the thread."""
        if self._stop.is_set():
            return
        self.flush(timeout)
        self._stop.set()
        self._thread.join(timeout=1.0)
        self._http.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            batch = self._collect()
            if batch:
                self._send(batch)

    def _collect(self) -> list[dict[str, Any]]:
        batch: list[dict[str, Any]] = []
        deadline = time.monotonic() + self.flush_interval
        while len(batch) < self.batch_size:
            left = deadline - time.monotonic()
            if left <= 0 or self._stop.is_set():
                break
            try:
                batch.append(self._queue.get(timeout=min(left, 0.05) if batch else min(left, 0.2)))
            except queue.Empty:
                if batch and self._queue.empty():
                    break  # nothing more is coming right now: send what we have
        return batch

    def _send(self, batch: list[dict[str, Any]]) -> None:
        for attempt in range(self.retries + 1):
            try:
                response = self._http.post(self.url, json={"events": batch})
            except httpx.HTTPError as exc:
                log.debug("TokenTRA unreachable (attempt %d): %s", attempt + 1, exc)
            else:
                if response.status_code < 300:
                    rejected = _rejected(response)
                    self.stats.add("rejected", rejected)
                    self.stats.add("sent", len(batch) - rejected)
                    self._done(len(batch))
                    return
                log.debug("TokenTRA answered %s: %s", response.status_code, response.text[:200])
                if response.status_code < 500 and response.status_code != 429:
                    break  # our request is wrong (bad key, too large): retrying will not help
            if attempt < self.retries and not self._stop.is_set():
                time.sleep(min(0.2 * 2**attempt, 2.0))
        self.stats.add("dropped", len(batch))
        self._done(len(batch))

    def _done(self, count: int) -> None:
        with self._pending_lock:
            self._pending -= count
            self._pending_lock.notify_all()


def _rejected(response: httpx.Response) -> int:
    try:
        body = response.json()
    except ValueError:
        return 0
    rejected = body.get("rejected", []) if isinstance(body, dict) else []
    for item in rejected[:3]:
        log.debug("TokenTRA rejected an event: %s", item)
    return len(rejected) if isinstance(rejected, list) else 0
