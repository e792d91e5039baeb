"""TokenTRA's domain: usage, pricing, detectors, budgets, routing, cache. Imports no web or agent framework."""
