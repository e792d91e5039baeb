"""The eval harness: suites that measure every model-driven and performance-critical part."""
