"""Routing suite: does a router send the right prompts to the expensive model? (issue 7, item 3; issue 5 targets)

Data: ../shared/data/routing (RouteLLM evals; per prompt whether Mixtral-8x7B and GPT-4-1106-preview answered
correctly), contaminated rows dropped. Our score has a learned part fitted on a fixed half of the data
(core/routing/classify_fit: GSM8K by prompt hash, MMLU by subject); every router is reported on the OTHER half.

Routers: ours (core.routing.classify: the score), ours without the learned part (the seed prior alone),
LiteLLM's complexity router (default rule-based `heuristic` and the bundled trained `heuristic_v2`, both local,
no model call), a random router (seeded, averaged over seeds) and the oracle (knows the outcomes).
Metrics (RouteLLM's, see evals/routing_metrics): APGR, CPT(50%), CPT(80%); how sure our APGR margin over LiteLLM's
is (paired bootstrap over the reported prompts: both routers scored on the same resamples; the 95% interval of
the difference and the share of resamples where ours is higher); and the cost saved versus sending
everything to the strong model at the smallest strong-call share reaching 95% of the strong model's accuracy,
priced from the catalogue's source (LiteLLM's bundled cost map: openai gpt-4-1106-preview, together_ai
Mixtral-8x7B-Instruct-v0.1), input tokens counted with tiktoken cl100k_base, output tokens an assumption per
dataset (config `output_tokens`; the data holds no responses).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from core.pricing.catalogue import litellm_cost_map, spec_from_litellm
from core.routing import classify as classifier
from core.routing import classify_model
from core.routing.classify_fit import DATASETS, Row, load_rows, split
from core.routing.classify_litellm import count_tokens, litellm_complexity, litellm_complexity_v2
from evals.harness import REPORTS, Metrics, suite
from evals.routing_metrics import Curve, Floats, apgr, curve, share_for_accuracy
from evals.suite_evaluators import router_curve

STRONG = "gpt-4-1106-preview"
WEAK = "together_ai/mistralai/Mixtral-8x7B-Instruct-v0.1"
ROUTERS = ("tokentra", "tokentra_prior_only", "litellm_complexity", "litellm_complexity_v2", "random", "oracle")


def price_per_token(key: str) -> tuple[float, float]:
    """(input, output) USD per token of a LiteLLM cost-map entry, through the catalogue's own parser."""
    spec = spec_from_litellm(key, litellm_cost_map()[key])
    if spec is None:
        raise KeyError(f"no token price for {key}")
    return float(spec.rates["input"] or 0) / 1e6, float(spec.rates["output"] or 0) / 1e6


def subsample(rows: list[Row], limit: int | None) -> list[Row]:
    """Every k-th row so that at most `limit` remain (deterministic, spread over the file)."""
    if not limit or len(rows) <= limit:
        return rows
    step = len(rows) / limit
    return [rows[int(i * step)] for i in range(limit)]


def router_scores(rows: list[Row], seeds: int) -> tuple[dict[str, Floats | list[Floats]], dict[str, float]]:
    """Each router's scores (random: one array per seed) and our classifier's latency percentiles (us)."""
    timings = []
    ours, prior = [], []
    for row in rows:
        started = time.perf_counter()
        result = classifier.classify(row.prompt)
        timings.append(time.perf_counter() - started)
        ours.append(result.score)
        prior.append(float(result.signals[0].split(":")[1]))
    gain = np.array([row.gain for row in rows], dtype=np.float64)
    scores: dict[str, Floats | list[Floats]] = {
        "tokentra": np.array(ours),
        "tokentra_prior_only": np.array(prior),
        "litellm_complexity": np.array([litellm_complexity(row.prompt)[1] for row in rows]),
        "litellm_complexity_v2": np.array([litellm_complexity_v2(row.prompt)[1] for row in rows]),
        "random": [np.random.default_rng(seed).random(len(rows)) for seed in range(seeds)],
        "oracle": gain,
    }
    micro = np.array(timings) * 1e6
    return scores, {"p50_us": round(float(np.percentile(micro, 50)), 1),
                    "p99_us": round(float(np.percentile(micro, 99)), 1)}  # fmt: skip


def cost_saved(scores: Floats, c: Curve, cost_strong: Floats, cost_weak: Floats) -> dict[str, float | None]:
    """Strong-call share reaching 95% of the strong model's accuracy and the cost saved there vs all-strong."""
    share = share_for_accuracy(c, 0.95 * c.acc_strong)
    if share is None:
        return {"share_at_95": None, "cost_saved_at_95": None}
    k = round(share * len(scores))
    order = np.argsort(-scores, kind="stable")
    routed = cost_weak.sum() + (cost_strong[order[:k]] - cost_weak[order[:k]]).sum()
    return {"share_at_95": round(share, 4), "cost_saved_at_95": round(1.0 - float(routed / cost_strong.sum()), 4)}


def evaluate(scores: Floats, rows: list[Row], costs: tuple[Floats, Floats]) -> tuple[dict[str, Any], Curve]:
    weak = np.array([row.weak for row in rows], dtype=np.float64)
    strong = np.array([row.strong for row in rows], dtype=np.float64)
    c = curve(scores, weak, strong)
    figures = {score.name: score.value for score in router_curve(inputs=rows, outputs=scores, reference=(weak, strong))}
    return {**figures, **cost_saved(scores, c, *costs)}, c


def paired_bootstrap(ours: Floats, theirs: Floats, rows: list[Row], *, draws: int, seed: int = 0) -> dict[str, Any]:
    """APGR(ours) - APGR(theirs) on the rows and over `draws` resamples of them (with replacement, the same
    resample for both routers): the point difference, its 95% interval and the share of resamples ours wins."""
    weak = np.array([row.weak for row in rows], dtype=np.float64)
    strong = np.array([row.strong for row in rows], dtype=np.float64)
    point = apgr(curve(ours, weak, strong)) - apgr(curve(theirs, weak, strong))
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(draws):
        pick = rng.integers(0, len(rows), len(rows))
        w, s = weak[pick], strong[pick]
        diffs.append(apgr(curve(ours[pick], w, s)) - apgr(curve(theirs[pick], w, s)))
    low, high = np.percentile(diffs, [2.5, 97.5]) if diffs else (point, point)
    wins = float(np.mean(np.array(diffs) > 0)) if diffs else None
    return {"apgr_diff": round(point, 4), "ci95": [round(float(low), 4), round(float(high), 4)],
            "share_of_resamples_ours_higher": wins, "draws": draws}  # fmt: skip


def _mean(results: list[dict[str, Any]]) -> dict[str, Any]:
    keys = results[0].keys()
    return {k: None if any(r[k] is None for r in results) else round(float(np.mean([r[k] for r in results])), 4)
            for k in keys}  # fmt: skip


def dataset_report(name: str, config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Curve]]:
    rows = subsample(split(load_rows(name))[1], config.get("limit"))
    (in_strong, out_strong), (in_weak, out_weak) = price_per_token(STRONG), price_per_token(WEAK)
    tokens = np.array([count_tokens(row.prompt) for row in rows], dtype=np.float64)
    output = float(config["output_tokens"][name])
    costs = (tokens * in_strong + output * out_strong, tokens * in_weak + output * out_weak)
    scores, latency = router_scores(rows, int(config["random_seeds"]))
    ours, litellm = (np.asarray(scores[name], dtype=np.float64) for name in ("tokentra", "litellm_complexity"))
    margin = paired_bootstrap(ours, litellm, rows, draws=int(config["bootstrap"]))
    routers: dict[str, Any] = {}
    curves: dict[str, Curve] = {}
    for router, value in scores.items():
        if isinstance(value, list):
            runs = [evaluate(seed_scores, rows, costs) for seed_scores in value]
            routers[router], curves[router] = _mean([r for r, _ in runs]), runs[0][1]
        else:
            routers[router], curves[router] = evaluate(value, rows, costs)
    first = curves["oracle"]
    report = {
        "rows": len(rows), "acc_weak": round(first.acc_weak, 4), "acc_strong": round(first.acc_strong, 4),
        "input_tokens": int(tokens.sum()), "assumed_output_tokens_per_prompt": output,
        "cost_all_strong_usd": round(float(costs[0].sum()), 4), "cost_all_weak_usd": round(float(costs[1].sum()), 4),
        "classify_latency": latency, "routers": routers, "tokentra_vs_litellm_complexity": margin,
    }  # fmt: skip
    return report, curves


def fit_summary() -> dict[str, Any]:
    """Per learned head: its fit rows, chosen ridge and prior weight, and its cross-validated APGR inside the
    fit half (classify_weights, written by classify_fit)."""
    keys = ("fit_rows", "ridge", "learned_slope", "cv_apgr")
    try:
        from core.routing.classify_weights import MODEL
    except ImportError:
        return {}
    heads = dict(MODEL.get("heads", {}))
    return {name: {k: heads[name].get(k) for k in keys} for name in classify_model.HEADS if name in heads}


def write_chart(curves: dict[str, dict[str, Curve]], path: Path) -> Path | None:
    """PGR vs strong-call share per dataset (None when matplotlib, a dev dependency, is missing)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    figure, axes = plt.subplots(1, len(curves), figsize=(6 * len(curves), 4.5), squeeze=False)
    for axis, (name, by_router) in zip(axes[0], curves.items(), strict=True):
        for router, c in by_router.items():
            axis.plot(c.share, c.pgr, label=router, linewidth=2 if router == "tokentra" else 1)
        axis.set(title=f"{name} (reported half)", xlabel="strong-model call share", ylabel="PGR")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


@suite(
    "routing",
    about="RouteLLM outcomes (GSM8K, MMLU): APGR, CPT(50/80%), cost saved at 95% strong accuracy, vs LiteLLM",
    datasets=list(DATASETS),
    limit=None,
    random_seeds=10,
    bootstrap=1000,
    output_tokens={"gsm8k": 200, "mmlu": 1},
    chart=True,
)
def routing_suite(config: dict[str, Any]) -> Metrics:
    datasets: dict[str, Any] = {}
    curves: dict[str, dict[str, Curve]] = {}
    for name in config["datasets"]:
        datasets[name], curves[name] = dataset_report(name, config)
    metrics: Metrics = {
        "split": "learned weights fit on GSM8K prompts with even sha256(prompt)[0] and on the MMLU subjects at "
        "even positions when ordered by sha256(subject); figures are on the other half only",
        "prices_per_1m": {"strong": {"model": STRONG, "input_output": [p * 1e6 for p in price_per_token(STRONG)]},
                          "weak": {"model": WEAK, "input_output": [p * 1e6 for p in price_per_token(WEAK)]}},
    }  # fmt: skip
    for name, report in datasets.items():
        for router, figures in report["routers"].items():
            metrics[f"{name}.{router}.apgr"] = figures["apgr"]
        ours, theirs = report["routers"]["tokentra"]["apgr"], report["routers"]["litellm_complexity"]["apgr"]
        metrics[f"{name}.beats_litellm"] = ours > theirs
        metrics[f"{name}.apgr_margin_ci95"] = report["tokentra_vs_litellm_complexity"]["ci95"]
    metrics["fit_cross_validation"] = fit_summary()
    metrics["datasets"] = datasets
    if config.get("chart"):
        chart = write_chart(curves, REPORTS / "routing-pgr.png")
        metrics["chart"] = str(chart) if chart else "matplotlib not installed: pip install -e .[dev]"
    return metrics
