"""`pgkeel config docs`: the settings reference, rendered from the settings classes.

The docs hold settings tables between the markers `<!-- settings-table module:Class -->` (or
`<!-- settings-table module:Class PREFIX_ ... -->` for the variables starting with a prefix)
and `<!-- /settings-table -->`; `--write FILE` renders every such block of a file again, and
the tests fail while a block differs from its class.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic_settings import BaseSettings

from pgkeel.cli._output import JsonFlag, console, emit, reported_errors
from pgkeel.config import settings_table
from pgkeel.errors import UsageError

__all__ = ["app", "render_settings_blocks", "settings_class"]

app = typer.Typer(help="Inspect pgkeel's settings.", no_args_is_help=True)

DEFAULT_CLASS = "pgkeel.config:Settings"
BLOCK = re.compile(r"(<!-- settings-table (?P<ref>[\w.]+:\w+)(?P<prefixes>( [A-Z_]+)*) -->\n)"
                   r"(?P<table>.*?)(?P<end><!-- /settings-table -->)", re.S)

SettingsOption = Annotated[str, typer.Option(
    "--settings", help="The settings class, as module:Class.")]
PrefixOption = Annotated[list[str] | None, typer.Option(
    "--prefix", help="Only the variables starting with this (repeatable).")]
WriteOption = Annotated[Path | None, typer.Option(
    "--write", help="Render every settings-table block of this Markdown file in place.")]


def settings_class(ref: str) -> type[BaseSettings]:
    """The settings class `module:Class` names."""
    module, _, name = ref.partition(":")
    try:
        found = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise UsageError(f"No settings class {ref!r}.",
                         hint="Name it as module:Class, e.g. pgkeel.config:Settings.") from exc
    if not (isinstance(found, type) and issubclass(found, BaseSettings)):
        raise UsageError(f"{ref} is not a pydantic-settings class.")
    return found


def render_settings_blocks(text: str) -> str:
    """`text` with every settings-table block rendered from its class."""
    return BLOCK.sub(lambda m: m.group(1) + settings_table(
        settings_class(m.group("ref")), m.group("prefixes").split()) + m.group("end"), text)


@app.command()
def docs(settings: SettingsOption = DEFAULT_CLASS, prefix: PrefixOption = None,
         write: WriteOption = None, as_json: JsonFlag = False) -> None:
    """Print the settings table (variable, default, meaning), or update a doc's tables."""
    with reported_errors(as_json):
        if write is not None:
            before = write.read_text()
            after = render_settings_blocks(before)
            if not BLOCK.search(before):
                raise UsageError(f"{write} has no <!-- settings-table module:Class --> block.")
            write.write_text(after)
            data: dict[str, Any] = {"file": str(write), "changed": after != before}
            emit(data, as_json, lambda: console.print(
                f"{write}: {'updated' if data['changed'] else 'already up to date'}"))
            return
        cls = settings_class(settings)
        prefixes = tuple(prefix or ())
        rows = [{"variable": name.upper(), "default": field.default,
                 "meaning": field.description}
                for name, field in cls.model_fields.items()
                if name.upper().startswith(prefixes or ("",))]
        emit(rows, as_json, lambda: console.print(settings_table(cls, prefixes), markup=False,
                                                  highlight=False, soft_wrap=True))
