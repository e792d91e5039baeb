"""The 18 recommendation types and their categories (CONTRACT section 6), shared by detectors and synth."""

CATEGORY: dict[str, str] = {
    "model_downgrade": "task_aware_routing",
    "quality_cost_pareto": "quality_cost_pareto",
    "provider_arbitrage": "provider_arbitrage",
    "model_version_upgrade": "model_version_optimization",
    "output_length": "io_ratio_optimization",
    "prompt_caching": "context_window_efficiency",
    "prompt_compression": "prompt_compression",
    "output_format": "output_format_optimization",
    "response_caching": "semantic_caching",
    "partial_caching": "partial_response_caching",
    "deduplication": "request_deduplication",
    "retry_storm": "retry_storm_detection",
    "timeout_waste": "timeout_cost_analysis",
    "rate_limit": "rate_limit_optimization",
    "abandoned_requests": "abandoned_request_detection",
    "embedding_optimization": "embedding_optimization",
    "batch_api": "time_based_optimization",
    "cost_per_outcome": "business_outcome_attribution",
}
