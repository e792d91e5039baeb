"""What may be cached, for how long (the seed's task-type TTLs) and under which key."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.cache.keys import NEVER_CACHE, cacheable, exact_key, scope_hash, split_last_user, ttl_for

MESSAGES = [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Capital of France?"}]


@pytest.mark.parametrize(
    ("task_type", "seconds"),
    [("greeting", 60), ("chitchat", 60), ("information_lookup", 300), ("customer_support", 300), ("faq", 3600),
     ("summarization", 3600), ("translation", 7200), ("code_explanation", 86400), ("documentation", 86400),
     ("code_review", 3600), (None, 3600), ("not-a-task-type", 3600), ("math", 0), ("poetry", 0)],
)  # fmt: skip
def test_ttl_for_follows_the_seed(task_type, seconds):
    assert ttl_for(task_type) == timedelta(seconds=seconds)


def test_never_cache_types_are_the_seeds_eight():
    assert sorted(NEVER_CACHE) == sorted(
        ["brainstorming", "ideation", "story_generation", "poetry", "creative_editing", "math", "logic", "debugging"]
    )
    assert not any(cacheable(task_type, {}) for task_type in NEVER_CACHE)


@pytest.mark.parametrize(
    ("params", "expected"),
    [({}, True), ({"temperature": 0}, True), ({"temperature": 1.0}, True), ({"temperature": 1.3}, False),
     ({"stream": True}, False), ({"stream": False}, True), ({"tools": [{"type": "function"}]}, False),
     ({"tools": []}, True), ({"functions": [{"name": "f"}]}, False), ({"n": 3}, False), ({"n": 1}, True)],
)  # fmt: skip
def test_cacheable_params(params, expected):
    assert cacheable("faq", params) is expected


def test_exact_key_ignores_transport_params_and_key_order():
    base = exact_key(model="m", messages=MESSAGES, params={"temperature": 0, "max_tokens": 10})
    same = exact_key(model="m", messages=MESSAGES, params={"max_tokens": 10, "temperature": 0, "user": "u",
                                                            "stream": False, "metadata": {"a": 1}})  # fmt: skip
    assert base == same
    assert base != exact_key(model="m", messages=MESSAGES, params={"temperature": 0, "max_tokens": 11})
    assert base != exact_key(model="m2", messages=MESSAGES, params={"temperature": 0, "max_tokens": 10})
    changed = [MESSAGES[0], {"role": "user", "content": "Capital of Spain?"}]
    assert base != exact_key(model="m", messages=changed, params={"temperature": 0, "max_tokens": 10})


def test_scope_shares_everything_but_the_last_user_message():
    other_question = [MESSAGES[0], {"role": "user", "content": "Largest city of France?"}]
    assert scope_hash(model="m", messages=MESSAGES, params={}) == scope_hash(model="m", messages=other_question,
                                                                             params={})  # fmt: skip
    other_system = [{"role": "system", "content": "Be verbose."}, MESSAGES[1]]
    assert scope_hash(model="m", messages=MESSAGES, params={}) != scope_hash(model="m", messages=other_system,
                                                                             params={})  # fmt: skip
    assert scope_hash(model="m", messages=MESSAGES, params={}) != scope_hash(model="m", messages=MESSAGES,
                                                                             params={"max_tokens": 5})  # fmt: skip


def test_split_last_user_only_for_plain_text():
    assert split_last_user(MESSAGES) == (MESSAGES[:1], "Capital of France?")
    parts = [{"role": "user", "content": [{"type": "text", "text": "What is"}, {"type": "text", "text": "this?"}]}]
    assert split_last_user(parts)[1] == "What is\nthis?"
    image = [{"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                          {"type": "image_url", "image_url": {"url": "x"}}]}]  # fmt: skip
    assert split_last_user(image)[1] is None
    assert split_last_user([*MESSAGES, {"role": "assistant", "content": "Paris"}])[1] is None
