"""Keyword tables of the task classifier (our wording, after the optimization-engine seed's task-classifier):
per task type the phrases that suggest it, code and math indicators, domains, multi-step markers.

Speed: a prompt is split into words once; phrases are looked up by their first word in one dict (no regex
alternation over hundreds of phrases). Only symbol-shaped indicators use regular expressions, one per table.
"""

from __future__ import annotations

import re

# task type -> phrases (matched case-insensitively on word boundaries). Every one of the seed's 47 types.
TASK_KEYWORDS: dict[str, tuple[str, ...]] = {
    # chat
    "greeting": ("hello", "hi", "hey", "good morning", "good afternoon", "good evening", "greetings", "howdy"),
    "faq": ("what is", "what are", "how do i", "can you explain", "define", "definition of", "describe",
            "meaning of"),
    "clarification": ("what do you mean", "clarify", "i don't understand", "i do not understand",
                      "could you elaborate", "can you rephrase", "which one do you mean"),
    "chitchat": ("how are you", "what's up", "thank you", "thanks", "nice to meet", "tell me about yourself",
                 "how's it going", "lol", "have a nice day", "how was your"),
    "instruction_following": ("follow these instructions", "do the following", "according to the instructions",
                              "step by step instructions", "respond only with", "output only"),
    "roleplay": ("pretend you are", "pretend to be", "act as", "role-play", "roleplay", "role play",
                 "in character", "imagine you are", "you are now"),
    "customer_support": ("my order", "refund", "my account", "subscription", "cancel my", "billing",
                         "reset my password",
                         "support ticket", "haven't received", "not received", "tracking number", "customer service"),
    "information_lookup": ("who is", "who was", "when did", "when was", "where is", "what year", "capital of",
                           "population of", "how tall", "how old is", "which country", "who invented", "who wrote"),
    # content
    "summarization": ("summarize", "summarise", "summary", "tl;dr", "tldr", "key points", "condense", "main points",
                      "recap", "gist", "in a nutshell", "brief overview"),
    "expansion": ("expand on", "expand this", "elaborate on", "flesh out", "more detail", "lengthen", "make it longer"),
    "translation": ("translate", "translation", "in spanish", "in french", "in german", "in italian", "in japanese",
                    "in chinese", "in portuguese", "into english", "to english", "into spanish", "into french",
                    "into german"),
    "rewriting": ("rewrite", "re-write", "reword", "revise this", "make it more formal", "make it more casual",
                  "make this sound"),
    "paraphrasing": ("paraphrase", "in other words", "say it differently", "put this differently"),
    "formatting": ("format as", "format this", "convert to json", "as json", "as a table", "markdown table",
                   "bullet list", "bullet points", "as csv", "to yaml", "reformat"),
    "proofreading": ("proofread", "grammar", "spelling", "typos", "grammatical", "punctuation"),
    "content_generation": ("write an article", "write a blog", "blog post", "article about", "write an essay", "essay",
                           "write a report", "newsletter", "write a paragraph", "write content"),
    # analysis
    "sentiment": ("sentiment", "emotion", "positive or negative", "tone of", "how does the customer feel",
                  "feeling expressed"),
    "classification": ("classify", "categorize", "categorise", "which category", "one category", "into categories",
                       "one of these categories", "label this", "label the",
                       "tag this", "assign a category", "spam or not", "is this spam"),
    "entity_extraction": ("named entities", "entities", "extract the names", "extract names", "extract all names",
                          "list all people", "list all companies", "ner"),
    "comparison": ("compare", "comparison", "difference between", "differences between", "versus", "vs",
                   "contrast", "similarities"),
    "data_extraction": ("extract", "parse", "pull out", "from this invoice", "structured data", "fields from",
                        "scrape"),
    "pattern_recognition": ("pattern", "patterns", "trend", "trends", "recurring", "what comes next",
                            "next number in the sequence"),
    "anomaly_detection": ("anomaly", "anomalies", "outlier", "outliers", "unusual activity", "abnormal", "fraudulent"),
    "clustering": ("cluster", "clusters", "group these", "segment these", "grouping", "segmentation"),
    # coding
    "code_generation": ("write code", "write a function", "create a function", "implement", "write a script",
                        "write a program", "write a class", "code that", "program that", "function that",
                        "script that"),
    "code_review": ("review this code", "review my code", "code review", "pull request", "review the code"),
    "debugging": ("debug", "bug", "error", "fix it", "fix this", "doesn't work", "does not work", "exception",
                  "traceback", "stack trace", "not working", "throws an error",
                  "segfault", "crash", "error message", "fix this code", "fix the code", "fix my code"),
    "code_explanation": ("explain this code", "what does this code", "what does this function", "how does this code",
                         "walk me through this code", "explain the code"),
    "refactoring": ("refactor", "refactoring", "clean up this code", "restructure", "simplify this code",
                    "optimize this code", "make this code"),
    "test_generation": ("unit test", "unit tests", "test cases", "pytest", "write tests", "jest", "test coverage",
                        "unittest"),
    "documentation": ("docstring", "docstrings", "document this", "readme", "api documentation", "add comments"),
    "code_completion": ("complete this code", "complete the code", "finish the function", "finish this function",
                        "autocomplete", "fill in the code"),
    # reasoning
    "math": ("calculate", "solve", "equation", "integral", "derivative", "probability", "compute", "sum of",
             "how much", "how many", "percent", "percentage", "average", "algebra", "theorem", "prove",
             "polynomial", "fraction", "ratio", "total"),
    "logic": ("logic", "logical", "puzzle", "riddle", "syllogism", "deduce", "if and only if", "valid argument",
              "paradox", "fallacy", "premise", "premises", "statement 1", "entails"),
    "planning": ("plan", "strategy", "roadmap", "schedule", "itinerary", "milestones", "timeline", "project plan"),
    "decision_support": ("should i", "which option", "pros and cons", "better choice", "decide between",
                         "trade-off", "tradeoff", "which should", "recommend"),
    "problem_solving": ("solve this problem", "how can i", "figure out", "find a way", "solution to", "how to fix",
                        "work around", "troubleshoot"),
    "causal_reasoning": ("why does", "why did", "why is", "root cause", "caused by", "effect of", "leads to",
                         "consequence", "what causes", "because of"),
    "hypothesis_generation": ("hypothesis", "hypothesize", "hypotheses", "what might explain",
                              "possible explanations", "predict what", "speculate"),
    # creative
    "copywriting": ("ad copy", "slogan", "tagline", "headline", "call to action", "product description", "copy for"),
    "story_generation": ("write a story", "short story", "once upon", "a tale", "bedtime story", "fiction", "plot"),
    "brainstorming": ("brainstorm", "ideas for", "list of ideas", "come up with", "suggestions for"),
    "ideation": ("new concept", "innovative", "new ideas", "invent", "ideate", "novel approach", "startup idea"),
    "poetry": ("poem", "haiku", "sonnet", "limerick", "verse", "rhyme", "stanza", "poetry"),
    "dialogue_writing": ("dialogue", "dialog", "conversation between", "screenplay", "scene where", "script for"),
    "marketing_copy": ("marketing", "campaign", "brand", "promotion", "landing page", "seo", "newsletter signup"),
    "creative_editing": ("edit my story", "improve the prose", "creative edit", "make it more vivid", "polish this",
                         "improve my story", "edit this chapter"),
}  # fmt: skip


# Words and phrases that show code (each distinct one counts once towards the code hits).
CODE_WORDS = (
    "function", "return", "console log", "public static", "python", "javascript", "typescript", "java", "sql",
    "rust", "golang", "html", "css", "regex", "api", "code", "script", "compile", "compiler", "undefined", "react",
    "null", "printf", "print", "const", "boolean", "array", "variable", "json", "npm", "pip install", "git",
)  # fmt: skip
# Symbol-shaped signs of code.
CODE_SYMBOLS = (
    r"```", r"\bdef \w+\(", r"=>", r"\{\s*$", r"#include", r"\bselect [^;\n]{0,200}\bfrom\b", r"[a-z_]\(\)", r";\s*$",
    r"[a-z]error\b", r"c\+\+", r"^import \w+", r"\b(?:let|const|var) \w+ =",
)  # fmt: skip
# Words and phrases that show mathematics (each distinct one counts once towards the math hits).
MATH_WORDS = (
    "calculate", "solve", "equation", "equations", "integral", "derivative", "probability", "how much", "how many",
    "how long", "how old", "how far", "how fast", "twice", "half", "double", "triple", "a third", "a quarter",
    "times as", "times more", "times less", "times older", "times faster", "times longer", "per hour", "per day",
    "per week", "per month", "per year", "per minute", "percent", "percentage", "average", "total", "sum",
    "product of", "remainder", "prime", "polynomial", "matrix", "vector", "sqrt", "f x",
)  # fmt: skip
# Symbol-shaped signs of mathematics.
MATH_SYMBOLS = (
    r"\d\s*[-+*/^×÷]\s*\d", r"\d\s*%", r"\$\s?\d", r"\\frac|\\sqrt", r"\bx\^\d", r"[=<>≤≥]",
)  # fmt: skip
UNITS = frozenset(
    ("miles", "mile", "feet", "foot", "minutes", "minute", "hours", "hour", "years", "year", "pounds", "pound",
     "cm", "kg", "mph", "degrees", "inches", "inch", "meters", "dollars", "cents", "km", "grams", "liters")
)  # fmt: skip

DOMAIN_TERMS: dict[str, tuple[str, ...]] = {
    "medical": ("patient", "diagnosis", "symptom", "symptoms", "treatment", "clinical", "disease", "dose",
                "medication", "syndrome", "therapy", "physician", "anatomy", "surgery", "infection"),
    "legal": ("contract", "liability", "plaintiff", "defendant", "statute", "court", "lawsuit", "tort",
              "jurisdiction", "attorney", "legal", "negligence", "constitutional", "clause"),
    "financial": ("revenue", "profit", "investment", "portfolio", "interest rate", "dividend", "balance sheet",
                  "accounting", "tax", "equity", "asset", "assets", "audit", "inflation"),
    "technical": ("algorithm", "database", "server", "latency", "kubernetes", "architecture", "protocol",
                  "encryption", "compiler", "network", "cache", "thread", "memory"),
    "scientific": ("hypothesis", "experiment", "molecule", "quantum", "electron", "enzyme", "velocity",
                   "energy", "theorem", "reaction", "genome", "species", "wavelength", "entropy"),
}  # fmt: skip

MULTI_STEP = (
    r"\bstep by step\b", r"\bfirst\b[^\n]{0,200}\bthen\b", r"\bafter that\b", r"\bfinally\b", r"^\s*\d+[.)]\s",
    r"\bnext,", r"\band then\b", r"\bmulti-step\b",
)  # fmt: skip

WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")

# first word -> [(the phrase's other words, label)]; labels "task:<type>", "domain:<name>", "code", "math".
PhraseIndex = dict[str, list[tuple[tuple[str, ...], str]]]


def _index() -> PhraseIndex:
    labelled = [(phrase, f"task:{task}") for task, phrases in TASK_KEYWORDS.items() for phrase in phrases]
    labelled += [(phrase, f"domain:{domain}") for domain, terms in DOMAIN_TERMS.items() for phrase in terms]
    labelled += [(phrase, "code") for phrase in CODE_WORDS] + [(phrase, "math") for phrase in MATH_WORDS]
    index: PhraseIndex = {}
    for phrase, label in labelled:
        words = tuple(WORD.findall(phrase.lower()))
        if words:
            index.setdefault(words[0], []).append((words[1:], label))
    return index


PHRASES = _index()
CODE_SYMBOL_PATTERN = re.compile("|".join(f"(?P<c{i}>{p})" for i, p in enumerate(CODE_SYMBOLS)), re.MULTILINE)
MATH_SYMBOL_PATTERN = re.compile("|".join(f"(?P<m{i}>{p})" for i, p in enumerate(MATH_SYMBOLS)))
MULTI_STEP_PATTERN = re.compile("|".join(MULTI_STEP), re.MULTILINE)


def scan(text: str) -> tuple[dict[str, int], set[str], set[str], list[str]]:
    """One pass over lower-cased text: (task/domain label -> hits, distinct code signs, distinct math signs,
    the words)."""
    words = WORD.findall(text)
    counts: dict[str, int] = {}
    code: set[str] = set()
    maths: set[str] = set()
    size = len(words)
    for position, word in enumerate(words):
        entries = PHRASES.get(word)
        if entries is not None:
            for rest, label in entries:
                if rest and tuple(words[position + 1 : position + 1 + len(rest)]) != rest:
                    continue
                if label == "code":
                    code.add(word + " ".join(rest))
                elif label == "math":
                    maths.add(word + " ".join(rest))
                else:
                    counts[label] = counts.get(label, 0) + 1
        elif word[0].isdigit() and position + 1 < size and words[position + 1] in UNITS:
            maths.add("unit")
    code.update(match.lastgroup or "" for match in CODE_SYMBOL_PATTERN.finditer(text))
    maths.update(match.lastgroup or "" for match in MATH_SYMBOL_PATTERN.finditer(text))
    return counts, code, maths, words
