"""The task classifier: clear examples of task types, the seed's rules, the score, the probe command."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from core.detectors.waste.quality import TASK_CATEGORY
from core.routing.classify import Classification, classify, quality_requirement, tier_for
from core.routing.classify_tasks import TASK_INFO

EXAMPLES = [
    ("Hello!", "greeting"),
    ("lol thanks, how's it going with you?", "chitchat"),
    ("Write a Python function that reverses a linked list and returns the new head.", "code_generation"),
    ("I get TypeError: Cannot read property 'map' of undefined in my React code. Fix it.", "debugging"),
    ("Write unit tests with pytest for this function:\n```python\ndef add(a, b):\n    return a + b\n```",
     "test_generation"),
    ("Translate 'where is the train station?' into French.", "translation"),
    ("Summarize the key points of this meeting transcript in three bullets: ...", "summarization"),
    ("Classify this support ticket into one category: billing, shipping or technical.", "classification"),
    ("Extract the names of all people and companies (named entities) in this paragraph: ...", "entity_extraction"),
    ("A shop sells pens for $2 each. Tom buys 7 pens and pays with $20. How much change does he get?", "math"),
    ("Write a haiku about the first snow of winter.", "poetry"),
    ("Brainstorm ideas for a team offsite.", "brainstorming"),
    ("Should I accept the job offer in Berlin or stay in Paris? Give me pros and cons.", "decision_support"),
]  # fmt: skip


@pytest.mark.parametrize(("prompt", "task"), EXAMPLES)
def test_clear_examples_get_their_task_type(prompt: str, task: str) -> None:
    result = classify(prompt)
    assert result.task_type == task
    assert result.category == TASK_CATEGORY[task]


def test_every_field_is_in_its_domain() -> None:
    for prompt, _ in EXAMPLES:
        result = classify(prompt, system="You are a helpful assistant.")
        assert isinstance(result, Classification)
        assert result.task_type in TASK_INFO
        assert result.complexity in {"simple", "moderate", "complex", "expert"}
        assert result.quality_requirement in {"low", "medium", "high", "critical"}
        assert 0.0 <= result.score <= 1.0
        assert result.tier == tier_for(result.score)


def test_unknown_text_defaults_to_instruction_following() -> None:
    assert classify("zxq blorp fnord").task_type == "instruction_following"


def test_chit_chat_routes_below_code_and_maths() -> None:
    light = classify("hi there, thanks a lot!")
    code = classify("Implement a thread-safe LRU cache class in Java with unit tests and explain the locking.")
    maths = classify("Solve for x: 3x^2 - 12x + 9 = 0, then compute the sum of the roots squared.")
    assert light.tier == "utility"
    assert light.score < code.score
    assert light.score < maths.score


def test_quality_rules_of_the_seed() -> None:
    assert quality_requirement("greeting", 0.3, None) == "low"
    assert quality_requirement("faq", 0.3, "medical") == "critical"
    assert quality_requirement("debugging", 0.3, None) == "critical"
    assert quality_requirement("translation", 0.3, None) == "high"
    assert quality_requirement("faq", 0.95, None) == "critical"


def test_medical_domain_is_detected() -> None:
    text = "The patient shows symptoms of infection; what treatment and dose of medication fits the diagnosis?"
    result = classify(text)
    assert result.domain == "medical"
    assert result.quality_requirement == "critical"


def test_llm_seam_is_called_only_when_unsure() -> None:
    calls: list[str] = []

    def llm(*, prompt: str, system: str | None, heuristic: Classification) -> Classification:
        calls.append(prompt)
        return heuristic

    classify("Translate 'thank you' into German, please, translate it", llm=llm)
    assert calls == []
    classify("zxq blorp fnord", llm=llm)
    assert calls == ["zxq blorp fnord"]


def test_classification_is_fast() -> None:
    prompts = [prompt for prompt, _ in EXAMPLES] * 20
    classify(prompts[0])
    started = time.perf_counter()
    for prompt in prompts:
        classify(prompt)
    per_prompt = (time.perf_counter() - started) / len(prompts)
    assert per_prompt < 0.002  # well under 1 ms on an idle core; loose for a shared CI machine


def test_probe_route_outputs_one_line_per_input(tmp_path: Path) -> None:
    from api.cli import app

    source = tmp_path / "in.jsonl"
    lines = [{"prompt": "Hello!"}, {"prompt": "Write a Python function to merge two sorted lists", "system": "coder"}]
    source.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    result = CliRunner().invoke(app, ["probe", "route", str(source)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["task_type"] for row in rows] == ["greeting", "code_generation"]
    assert all(set(row) == {"score", "tier", "task_type", "category"} for row in rows)
    assert rows[0]["score"] < rows[1]["score"]


def test_each_kind_of_prompt_gets_its_learned_head() -> None:
    word_problem = "Tom buys 3 boxes of 12 pens at $1.50 each and sells half of them. How many pens are left?"
    choice = "Which gas is most abundant in air?\nA. Oxygen\nB. Nitrogen\nC. Argon\nD. Carbon dioxide\nAnswer:"
    assert "head:math" in classify(word_problem).signals
    assert "head:choice" in classify(choice).signals
    assert "head:general" in classify("Write a haiku about the first snow of winter.").signals
    assert "head:general" in classify("Fix this bug: for i in range(10) print(i) fails with 2 errors?").signals


def test_word_problem_features_count_what_they_name() -> None:
    from core.routing.classify_keywords import WORD
    from core.routing.classify_math import MATH_FEATURE_NAMES, math_features

    prompt = "Ann has $1,250.50 and spends 20% of it. Then she buys 3 pens at $1.25 each. How much is left?"
    values = dict(zip(MATH_FEATURE_NAMES, math_features(prompt, WORD.findall(prompt.lower())), strict=True))
    assert values["numbers"] == 4
    assert values["decimals"] == 2
    assert values["large_numbers"] == 1
    assert values["sentences"] == 3
    assert values["how_much"] == 1.0
    assert values["op_percent"] == 1.0
    assert values["question_numbers"] == 0.0


def test_learned_part_stays_bounded_on_prompts_unlike_the_fit_data() -> None:
    from core.routing import classify_model

    head = classify_model.head("math")
    if head is None:
        pytest.skip("no fitted weights")
    wild = [1e9] * len(head.coef)
    assert head.delta_range[0] <= head.delta(wild) <= head.delta_range[1]
    long_problem = "A farmer has 12 cows. " * 400 + "How many legs do the cows have?"
    assert 0.0 < classify(long_problem).score < 1.0
