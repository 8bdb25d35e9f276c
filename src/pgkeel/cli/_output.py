"""What every CLI command shares: `--json`, one-line errors with a non-zero exit, async entry."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TextIO, TypeVar

import orjson
import typer
from rich.console import Console

from pgkeel.errors import PgkeelError

T = TypeVar("T")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]

PIPE_WIDTH = 1000
"""Columns the CLI renders into when its output is not a terminal (and COLUMNS is unset):
a table piped to a file or `grep` keeps one line per row instead of wrapping at 80."""


def _width(stream: TextIO) -> int | None:
    if "COLUMNS" in os.environ or stream.isatty():
        return None  # rich's own: the terminal's width
    return PIPE_WIDTH


console = Console(width=_width(sys.stdout))
err_console = Console(stderr=True, width=_width(sys.stderr))

EXIT_ERROR = 1


def emit(data: Any, as_json: bool, human: Callable[[], None]) -> None:
    """Print `data` as JSON, or call `human` to render it for people."""
    if as_json:
        sys.stdout.write(orjson.dumps(data, default=str, option=orjson.OPT_INDENT_2).decode())
        sys.stdout.write("\n")
    else:
        human()


def emit_applied(applied: list[str], as_json: bool, schema: str) -> None:
    """Report the migrations an `install` command applied to a library schema."""
    emit({"applied": applied}, as_json, lambda: console.print(
        f"applied {', '.join(applied)}" if applied else f"{schema} schema is up to date",
        highlight=False))


@contextmanager
def reported_errors(as_json: bool, exit_code: int = EXIT_ERROR) -> Iterator[None]:
    """Turn a pgkeel error into one line on stderr (or a JSON body) and `exit_code` (1)."""
    try:
        yield
    except PgkeelError as exc:
        if as_json:
            sys.stdout.write(orjson.dumps({"error": exc.to_dict()}, default=str).decode())
            sys.stdout.write("\n")
        else:
            hint = f" (hint: {exc.hint})" if exc.hint else ""
            err_console.print(f"error: {exc.message}{hint}", markup=False, highlight=False,
                              soft_wrap=True)
        raise typer.Exit(exit_code) from None


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)
