"""Organizations, teams, projects, API keys and provider connections."""
