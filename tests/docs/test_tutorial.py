"""docs/tutorial.md builds a service from an empty folder: write each of its files into a
temporary folder, run its commands there, and so run the service's own tests. A tutorial
that does not work fails here."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pgkeel.embedded import EmbeddedServers
from pgkeel.testing.databases import create_database, drop_database

ROOT = Path(__file__).resolve().parents[2]
TUTORIAL = ROOT / "docs" / "tutorial.md"
FILE = re.compile(r"<!--\s*file:\s*(?P<path>\S+)\s*-->\n```[\w-]*\n(?P<body>.*?)^```\n",
                  re.S | re.M)
COMMANDS = re.compile(
    r"<!--\s*not-run:[^>]*test_tutorial\.py[^>]*-->\n```sh\n(?P<body>.*?)^```\n", re.S | re.M)


@pytest.mark.smoke
def test_the_tutorial_has_files_and_commands():
    text = TUTORIAL.read_text()
    paths = [m.group("path") for m in FILE.finditer(text)]
    assert "projects_app/main.py" in paths
    assert "tests/test_projects.py" in paths
    assert len(paths) == len(set(paths)), "a file is written twice"
    commands = "\n".join(m.group("body") for m in COMMANDS.finditer(text))
    assert "pgkeel migrate up" in commands
    assert "pgkeel repo generate --schema projects --check" in commands
    assert "pytest -q" in commands


def test_the_tutorial_builds_a_service_whose_tests_pass(tmp_path: Path,
                                                        pgkeel_servers: EmbeddedServers):
    text = TUTORIAL.read_text()
    for match in FILE.finditer(text):
        target = tmp_path / match.group("path")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(match.group("body"))
    admin_url = pgkeel_servers.settings.database_url
    assert admin_url is not None
    scratch = create_database(admin_url, prefix="pgkeel_tutorial")
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
           "REDIS_URL": pgkeel_servers.settings.redis_url or "memory://",
           "PYTHONPATH": str(tmp_path)}
    try:
        for match in COMMANDS.finditer(text):
            script = match.group("body")
            # The migration commands work on a database of their own; pytest makes its own
            # from the server's admin URL, as any project's test run does.
            env["DATABASE_URL"] = admin_url if "pytest" in script else scratch
            result = subprocess.run(["bash", "-eo", "pipefail", "-c", script], cwd=tmp_path,
                                    env=env, capture_output=True, text=True, timeout=300)
            assert result.returncode == 0, (
                f"tutorial commands failed:\n{script}\n{result.stdout}\n{result.stderr}")
    finally:
        drop_database(admin_url, scratch)

