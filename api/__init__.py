"""The ways in: the FastAPI app (HTTP API and gateway) and the `tokentra` command line."""
