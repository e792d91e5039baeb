"""Output length (I/O ratio): bounded tasks whose answers run far past what the task needs.

Each bounded task type has an output budget (OUTPUT_BUDGET: the visible tokens a good answer of that type
needs; ESTIMATES from typical answers, e.g. a product description or an FAQ answer in a few hundred tokens).
Open-ended types (content generation, creative, coding, reasoning) have none. A slice is reported when its
median visible output is at least `OVERSHOOT` × the budget. The fix is a tighter max_tokens plus a length
instruction, so savings = Σ tt_cost(as billed) − Σ tt_cost(visible output capped at the budget) over the calls
above it, at the price version each call was billed at.
"""

from __future__ import annotations

from decimal import Decimal

from core.detectors.waste.base import ORG_WINDOW, DetectorContext, Draft, Finding, finish, money, scope_of

OUTPUT_BUDGET: dict[str, int] = {
    "greeting": 60,
    "chitchat": 150,
    "clarification": 150,
    "faq": 400,
    "information_lookup": 600,
    "customer_support": 600,
    "summarization": 500,
    "expansion": 300,
    "rewriting": 600,
    "paraphrasing": 400,
    "formatting": 600,
    "sentiment": 20,
    "classification": 30,
    "entity_extraction": 400,
    "data_extraction": 600,
    "comparison": 800,
    "code_completion": 300,
}
OVERSHOOT = 2
MIN_CALLS = 20

# Each over-budget call is priced (as billed, and capped) as it is read, so the sort by scope carries two numbers,
# not the call's price row.
OUTPUT_SQL = f"""
WITH budgets AS (
    SELECT * FROM unnest(CAST(:tasks AS text[]), CAST(:budgets AS int[])) AS b(task_type, budget)
),
calls AS (
    SELECT e.team, e.project, e.feature, e.provider, e.model, e.request_id, e.timestamp, e.input_tokens,
           e.output_tokens, e.cache_read_tokens, e.cache_write_tokens, e.reasoning_tokens, e.batch,
           e.finish_reason, e.max_tokens, b.budget, e.output_tokens - e.reasoning_tokens AS visible,
           CASE WHEN e.output_tokens - e.reasoning_tokens > b.budget THEN
               tt_cost(p, e.input_tokens, e.output_tokens, e.cache_read_tokens, e.cache_write_tokens,
                       e.reasoning_tokens, e.batch) END AS billed,
           CASE WHEN e.output_tokens - e.reasoning_tokens > b.budget THEN
               tt_cost(p, e.input_tokens, b.budget + e.reasoning_tokens, e.cache_read_tokens, e.cache_write_tokens,
                       e.reasoning_tokens, e.batch) END AS capped
    FROM usage_events e
    JOIN budgets b ON b.task_type = e.task_type
    JOIN price_catalogue p ON p.id = e.price_id
    WHERE {ORG_WINDOW} AND e.cost > 0 AND e.endpoint <> 'embeddings'
)
SELECT team, project, feature, provider, model, max(budget) AS budget, count(*) AS calls,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY visible) AS median_output,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY input_tokens) AS median_input,
       count(*) FILTER (WHERE output_tokens > 5 * input_tokens) AS high_ratio_calls,
       count(*) FILTER (WHERE finish_reason = 'length') AS length_stops,
       round(count(*) FILTER (WHERE finish_reason = 'length')::numeric / count(*), 4) AS length_stop_share,
       count(*) FILTER (WHERE visible > budget) AS over_budget,
       coalesce(sum(billed) FILTER (WHERE visible > budget), 0) AS billed_cost,
       coalesce(sum(capped) FILTER (WHERE visible > budget), 0) AS capped_cost,
       (array_agg(request_id ORDER BY visible DESC, request_id) FILTER (WHERE visible > budget))[1:10] AS samples
FROM calls
GROUP BY team, project, feature, provider, model
HAVING count(*) >= :min_calls
   AND percentile_cont(0.5) WITHIN GROUP (ORDER BY visible) >= :overshoot * max(budget)
ORDER BY feature
"""


def detect(ctx: DetectorContext) -> list[Finding]:
    result = ctx.query(
        OUTPUT_SQL,
        "Bounded-task calls whose output overshoots the task's budget, repriced with output capped",
        kind="cost_analysis",
        tasks=list(OUTPUT_BUDGET),
        budgets=list(OUTPUT_BUDGET.values()),
        overshoot=OVERSHOOT,
        min_calls=MIN_CALLS,
    )
    findings = []
    for row in result.rows:
        savings = money(row["billed_cost"]) - money(row["capped_cost"])
        if savings <= 0:
            continue
        feature = row["feature"] or "(no feature)"
        budget = int(row["budget"])
        length_share = Decimal(row["length_stop_share"])
        draft = Draft(
            type="output_length",
            title=f"{feature} answers run to ~{int(row['median_output']):,} tokens where ~{budget:,} are needed",
            description=(
                f"The median answer of {feature} on {row['model']} is {int(row['median_output']):,} output tokens "
                f"for a ~{int(row['median_input']):,}-token prompt ({row['high_ratio_calls']} calls with output "
                f"over 5x input; {length_share:.0%} stopped at max_tokens). Its task needs about {budget:,}; "
                f"capping {row['over_budget']} long answers there removes the excess output cost."
            ),
            scope=scope_of(row),
            target={"max_tokens": budget, "length_instruction": f"Answer in at most {budget} tokens"},
            window_savings=savings,
            affected_requests=int(row["over_budget"]),
            sample_request_ids=list(row["samples"] or []),
            evidence=[result.evidence],
            confidence=0.7,
            implementation_steps=[
                f"Add a length instruction to {feature}'s prompt (about {budget} tokens)",
                f"Lower max_tokens from {row['model']}'s current setting to ~{int(budget * 1.5)}",
                "Review a sample of capped answers for truncation before rolling out",
            ],
        )
        findings.append(finish(ctx, draft))
    return findings
