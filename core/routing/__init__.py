"""Routing rules, task classification, and the LiteLLM Router wrapper (tiers). The only importer of litellm."""
