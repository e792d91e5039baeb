"""The seed's task table (optimization-engine seed, task-classifier.ts, as recorded in our seed notes section 3):
per task type its default model tier, quality-requirement class and base reasoning depth. Categories are the
model-quality registry's (core/detectors/waste/quality.py), not repeated here."""

from __future__ import annotations

from core.detectors.waste.quality import TASK_CATEGORY

# task type -> (seed default tier budget|mid|premium, base reasoning depth 1-10)
TASK_INFO: dict[str, tuple[str, int]] = {
    "greeting": ("budget", 1), "faq": ("budget", 2), "clarification": ("budget", 2), "chitchat": ("budget", 2),
    "instruction_following": ("mid", 5), "roleplay": ("mid", 5), "customer_support": ("mid", 5),
    "information_lookup": ("budget", 5),
    "summarization": ("mid", 4), "expansion": ("mid", 5), "translation": ("mid", 4), "rewriting": ("mid", 4),
    "paraphrasing": ("budget", 5), "formatting": ("budget", 2), "proofreading": ("budget", 3),
    "content_generation": ("mid", 5),
    "sentiment": ("budget", 3), "classification": ("budget", 3), "entity_extraction": ("budget", 3),
    "comparison": ("mid", 5), "data_extraction": ("budget", 5), "pattern_recognition": ("mid", 5),
    "anomaly_detection": ("mid", 5), "clustering": ("mid", 5),
    "code_generation": ("mid", 6), "code_review": ("mid", 6), "debugging": ("mid", 7), "code_explanation": ("mid", 5),
    "refactoring": ("mid", 6), "test_generation": ("mid", 6), "documentation": ("mid", 4),
    "code_completion": ("budget", 4),
    "math": ("premium", 8), "logic": ("premium", 8), "planning": ("premium", 7), "decision_support": ("premium", 7),
    "problem_solving": ("premium", 7), "causal_reasoning": ("premium", 8), "hypothesis_generation": ("premium", 8),
    "copywriting": ("mid", 5), "story_generation": ("premium", 6), "brainstorming": ("mid", 5),
    "ideation": ("mid", 5), "poetry": ("premium", 6), "dialogue_writing": ("mid", 5), "marketing_copy": ("mid", 5),
    "creative_editing": ("mid", 5),
}  # fmt: skip

DEFAULT_TASK = "instruction_following"
# The seed's "complex tasks" (+0.2 complexity).
COMPLEX_TASKS = frozenset(
    {"code_generation", "debugging", "refactoring", "math", "logic", "planning", "problem_solving",
     "causal_reasoning", "hypothesis_generation", "story_generation"}
)  # fmt: skip
CRITICAL_TASKS = frozenset(
    {"code_generation", "code_review", "debugging", "math", "logic", "decision_support", "causal_reasoning",
     "hypothesis_generation"}
)  # fmt: skip
HIGH_TASKS = frozenset(
    {"summarization", "translation", "refactoring", "test_generation", "planning", "problem_solving",
     "story_generation"}
)  # fmt: skip
LOW_TASKS = frozenset({"greeting", "clarification", "chitchat", "formatting"})
CRITICAL_DOMAINS = frozenset({"medical", "legal"})

# Code indicators found in a prompt -> coding task (the seed's override order: first rule that matches wins).
CODE_TASK_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("debugging", ("error", "bug", "fix", "not working", "exception", "traceback", "crash")),
    ("code_review", ("review", "audit", "check my", "check this")),
    ("test_generation", ("unit test", "test case", "tests for", "pytest", "spec")),
    ("refactoring", ("refactor", "improve", "optimize", "optimise", "clean up")),
    ("documentation", ("docstring", "document", "readme", "comment")),
    ("code_explanation", ("explain", "what does", "how does")),
    ("code_generation", ("write", "create", "implement", "build", "generate")),
    ("code_completion", ("complete", "finish", "continue")),
)

if set(TASK_INFO) != set(TASK_CATEGORY):
    raise RuntimeError("the task table and the model-quality registry list different task types")
