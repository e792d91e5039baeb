"""The in-process side of the response cache: an LRU of entries and, per org, the set of stored keys.

Why both: an LRU answers repeats this process has seen without a database round trip; the key set answers
*misses* without one (most requests are misses). The key set of an org is loaded once per process and kept
current by a cheap poll of rows created since the last poll (`KeySync`), so an entry written by another
process (or before a restart) is found within `sync_seconds`. Being late only costs a miss, never a wrong
answer: every entry carries its own `expires_at`, checked on each hit.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections import OrderedDict
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

import orjson


class LocalEntry(NamedTuple):
    """A cached answer held in process. Only atomic values (the id as an int, the response as JSON bytes): the
    cyclic garbage collector untracks such tuples, so ten thousand entries add nothing to its full collections
    (a dict per response would add a dozen tracked objects per entry, walked by every full collection)."""

    id_int: int
    body: bytes
    cost: Decimal | None
    expires_at: datetime

    @classmethod
    def of(cls, *, entry_id: uuid.UUID, response: dict[str, Any], cost: Decimal | None,
           expires_at: datetime) -> LocalEntry:  # fmt: skip
        return cls(entry_id.int, orjson.dumps(response), cost, expires_at)

    @property
    def entry_id(self) -> uuid.UUID:
        return uuid.UUID(int=self.id_int)

    @property
    def response(self) -> dict[str, Any]:
        value: dict[str, Any] = orjson.loads(self.body)
        return value


def short_hash(cache_key: str) -> int:
    """64 bits of a cache key: what the per-org key sets hold (8 bytes instead of a 64-character string)."""
    return int.from_bytes(hashlib.blake2b(cache_key.encode(), digest_size=8).digest(), "big")


class LocalCache:
    """Thread-safe LRU of (org, key) → entry plus per-org sets of the keys stored in the table."""

    def __init__(self, *, max_entries: int = 10_000) -> None:
        self._max = max_entries
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[int, str], LocalEntry] = OrderedDict()  # (org id as int, key): untracked
        self._keys: dict[uuid.UUID, set[int]] = {}

    def get(self, org_id: uuid.UUID, cache_key: str, now: datetime) -> LocalEntry | None:
        slot = (org_id.int, cache_key)
        with self._lock:
            entry = self._entries.get(slot)
            if entry is None:
                return None
            if entry.expires_at <= now:
                del self._entries[slot]
                return None
            self._entries.move_to_end(slot)
            return entry

    def put(self, org_id: uuid.UUID, cache_key: str, entry: LocalEntry) -> None:
        slot = (org_id.int, cache_key)
        with self._lock:
            self._entries[slot] = entry
            self._entries.move_to_end(slot)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
            keys = self._keys.get(org_id)
            if keys is not None:
                keys.add(short_hash(cache_key))

    def drop(self, org_id: uuid.UUID, cache_key: str) -> None:
        with self._lock:
            self._entries.pop((org_id.int, cache_key), None)
            keys = self._keys.get(org_id)
            if keys is not None:
                keys.discard(short_hash(cache_key))

    def drop_org(self, org_id: uuid.UUID) -> None:
        with self._lock:
            for key in [key for key in self._entries if key[0] == org_id.int]:
                del self._entries[key]
            self._keys.pop(org_id, None)

    def knows_org(self, org_id: uuid.UUID) -> bool:
        with self._lock:
            return org_id in self._keys

    def load_org(self, org_id: uuid.UUID, cache_keys: list[str]) -> None:
        hashes = {short_hash(key) for key in cache_keys}
        with self._lock:
            self._keys[org_id] = hashes | self._keys.get(org_id, set())

    def add_keys(self, rows: list[tuple[uuid.UUID, str]]) -> None:
        """Keys other processes stored (from the poll); only orgs already loaded are tracked."""
        with self._lock:
            for org_id, cache_key in rows:
                keys = self._keys.get(org_id)
                if keys is not None:
                    keys.add(short_hash(cache_key))

    def may_hold(self, org_id: uuid.UUID, cache_key: str) -> bool:
        with self._lock:
            keys = self._keys.get(org_id)
            return keys is not None and short_hash(cache_key) in keys

    def loaded_orgs(self) -> list[uuid.UUID]:
        with self._lock:
            return list(self._keys)
