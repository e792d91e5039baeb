"""Prompt compression: whole documents sent to extract or look up a short answer.

A slice qualifies when its task is lookup-like (COMPRESSIBLE_TASKS, or unlabelled), its median request-
specific prompt (input − system prompt) is at least `MIN_MEDIAN_PROMPT` tokens and its median output is at
most `MAX_OUTPUT_SHARE` of the input: the answer depends on a small part of the document. Retrieving only the
relevant passages (chunk + rank, or an extractive compressor) keeps about `KEPT_SHARE` of the prompt
(an assumption, stated in the finding). Savings = Σ tt_cost(as billed) − Σ tt_cost(input × KEPT_SHARE, no
cache tokens, same output) at the price version each call was billed at.
"""

from __future__ import annotations

from decimal import Decimal

from core.detectors.waste.base import ORG_WINDOW, DetectorContext, Draft, Finding, finish, money, scope_of

COMPRESSIBLE_TASKS = (
    "data_extraction",
    "entity_extraction",
    "classification",
    "sentiment",
    "comparison",
    "information_lookup",
    "faq",
    "customer_support",
)
MIN_MEDIAN_PROMPT = 20_000
MAX_OUTPUT_SHARE = 0.01
KEPT_SHARE = Decimal("0.3")
MIN_CALLS = 10

# Each call is priced (as billed, and compressed) as it is read, so the sort by scope carries two numbers, not the
# call's price row.
COMPRESSION_SQL = f"""
WITH calls AS (
    SELECT e.team, e.project, e.feature, e.provider, e.model, e.request_id, e.input_tokens, e.output_tokens,
           e.input_tokens - coalesce(e.system_prompt_tokens, 0) AS prompt_tokens,
           tt_cost(p, e.input_tokens, e.output_tokens, e.cache_read_tokens, e.cache_write_tokens,
                   e.reasoning_tokens, e.batch) AS billed,
           tt_cost(p, round(e.input_tokens * :kept)::bigint, e.output_tokens, 0, 0, e.reasoning_tokens,
                   e.batch) AS compressed
    FROM usage_events e
    JOIN price_catalogue p ON p.id = e.price_id
    WHERE {ORG_WINDOW} AND e.cost > 0 AND e.endpoint <> 'embeddings'
      AND (e.task_type IS NULL OR e.task_type = ANY(CAST(:tasks AS text[])))
)
SELECT team, project, feature, provider, model, count(*) AS calls,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY prompt_tokens) AS median_prompt,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY output_tokens) AS median_output,
       sum(input_tokens) AS input_tokens,
       sum(billed) AS billed_cost,
       sum(compressed) AS compressed_cost,
       (array_agg(request_id ORDER BY input_tokens DESC, request_id))[1:10] AS samples
FROM calls
GROUP BY team, project, feature, provider, model
HAVING count(*) >= :min_calls
   AND percentile_cont(0.5) WITHIN GROUP (ORDER BY prompt_tokens) >= :min_prompt
   AND percentile_cont(0.5) WITHIN GROUP (ORDER BY output_tokens)
       <= :max_share * percentile_cont(0.5) WITHIN GROUP (ORDER BY input_tokens)
ORDER BY feature
"""


def detect(ctx: DetectorContext) -> list[Finding]:
    result = ctx.query(
        COMPRESSION_SQL,
        "Long-document calls with short answers, repriced with the prompt cut to its relevant part",
        kind="cost_analysis",
        tasks=list(COMPRESSIBLE_TASKS),
        kept=KEPT_SHARE,
        min_prompt=MIN_MEDIAN_PROMPT,
        max_share=MAX_OUTPUT_SHARE,
        min_calls=MIN_CALLS,
    )
    findings = []
    for row in result.rows:
        savings = money(row["billed_cost"]) - money(row["compressed_cost"])
        if savings <= 0:
            continue
        feature = row["feature"] or "(no feature)"
        draft = Draft(
            type="prompt_compression",
            title=f"{feature} sends ~{int(row['median_prompt']):,}-token documents for "
            f"~{int(row['median_output'])}-token answers",
            description=(
                f"{row['calls']} calls of {feature} on {row['model']} send a median {int(row['median_prompt']):,} "
                f"prompt tokens and get a median {int(row['median_output'])} back: the answer depends on a small "
                f"part of the document. Sending only the relevant passages (assumed {KEPT_SHARE:.0%} of the "
                "prompt) cuts the input cost accordingly."
            ),
            scope=scope_of(row),
            target={"kept_input_share": float(KEPT_SHARE), "method": "retrieve relevant passages"},
            window_savings=savings,
            affected_requests=int(row["calls"]),
            sample_request_ids=list(row["samples"] or []),
            evidence=[result.evidence],
            confidence=0.6,
            implementation_steps=[
                f"Chunk {feature}'s documents and retrieve only the passages relevant to the question",
                "Compare extraction accuracy on a labelled sample against full-document prompts",
                "Roll out behind a flag and watch accuracy and input tokens per call",
            ],
        )
        findings.append(finish(ctx, draft))
    return findings
