"""`tokentra ask`: the analyst assistant on the command line."""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli_support import database, emit_json, stdout
from api.timeparse import parse_time
from core.config import get_settings
from core.orgs.service import get_org
from core.routing.llm import build_llm


def ask_command(
    question: Annotated[str, typer.Argument(help="a question about spend, e.g. 'why did costs change last week?'")],
    org: Annotated[str, typer.Option("--org", help="organization slug")],
    as_of: Annotated[str, typer.Option("--as-of", help="what 'now' is (default: now)")] = "now",
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON document on stdout")] = False,
) -> None:
    """Ask the analyst assistant a question about your LLM spend."""
    from graphs.assistant import ask

    db = database()
    with db.session() as session:
        org_id = get_org(session, org).id
    result = ask(
        db, org_id=org_id, question=question, now=parse_time(as_of, name="--as-of"), llm=build_llm(get_settings())
    )
    if as_json:
        result.pop("transcript", None)
        emit_json(result)
        return
    stdout.print(result["answer"])
    for query in result["queries"]:
        stdout.print(f"[dim]query: {query}[/dim]")
