"""RouteLLM's router metrics (APGR, CPT, PGR curve): they live in core/routing/classify_metrics, where the
router's fitting (classify_fit) also uses them to choose its settings; re-exported here for the eval suites."""

from core.routing.classify_metrics import Curve, Floats, apgr, cpt, curve, share_for_accuracy, summary

__all__ = ["Curve", "Floats", "apgr", "cpt", "curve", "share_for_accuracy", "summary"]
