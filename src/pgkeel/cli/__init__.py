"""The `pgkeel` command-line tool. Every command takes `--json`; errors print one line and
exit non-zero."""

from pgkeel.cli.app import app, main

__all__ = ["app", "main"]
