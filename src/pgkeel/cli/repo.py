"""`pgkeel repo generate --schema S`: `Table(...)` declarations from the live catalog, and
`--check FILE` for drift in CI (see `pgkeel.repo.generate`)."""

from __future__ import annotations

import difflib
import sys
from pathlib import Path
from typing import Annotated

import typer

from pgkeel.cli._output import JsonFlag, emit, err_console, reported_errors, run
from pgkeel.config import load_settings
from pgkeel.db import Database
from pgkeel.embedded import EmbeddedServers
from pgkeel.errors import UsageError
from pgkeel.repo.generate import GeneratedTable, describe, generate_module, read_schema

app = typer.Typer(help="Table declarations from the database.", no_args_is_help=True)

EXIT_DRIFT = 1


async def _read(schema: str) -> list[GeneratedTable]:
    settings = EmbeddedServers.for_settings(load_settings(), redis=False).settings
    async with Database.from_settings(settings, min_size=1, max_size=1) as db:
        return await read_schema(db, schema)


@app.command()
def generate(
    schema: Annotated[str, typer.Option("--schema", "-s", help="The schema to read.")],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the module to this file instead of stdout.")] = None,
    check: Annotated[Path | None, typer.Option(
        "--check", help="Compare with this file instead: exit 1 with a diff when the "
        "database has drifted from it.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Print `Table(...)` declarations for every table of SCHEMA: types, nullability, the
    tenant column, and filters and sorts proposed from the indexes."""
    with reported_errors(as_json):
        tables = run(_read(schema))
        if not tables:
            raise UsageError(f"Schema {schema!r} has no tables.",
                             hint="Apply the migrations first, or check --schema.")
        text = generate_module(schema, tables)
        if check is not None:
            _check(check, text)
            return
        if output is not None:
            output.write_text(text)

        def human() -> None:
            if output is None:
                sys.stdout.write(text)
        emit(describe(tables), as_json, human)


def _check(path: Path, text: str) -> None:
    try:
        committed = path.read_text()
    except OSError as exc:
        raise UsageError(f"Cannot read {path}: {exc.strerror}.",
                         hint="Write it first with --output.") from None
    if committed == text:
        return
    diff = difflib.unified_diff(committed.splitlines(keepends=True),
                                text.splitlines(keepends=True), f"{path}", "database")
    sys.stdout.writelines(diff)
    err_console.print(f"error: {path} differs from the database (see the diff above). "
                      "(hint: regenerate it with --output, then review the change.)",
                      markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(EXIT_DRIFT)
