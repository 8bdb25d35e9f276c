"""`python -m bench.read_steps` on the tiny data set: every scenario prints its six steps with
figures. Timings are never asserted -- only that the breakdown runs and says what it measured."""

from __future__ import annotations

import re

import pytest

for module in ("asyncpg", "sqlalchemy"):
    pytest.importorskip(module, reason="the bench extra is not installed (make bench-quick)")

from bench.read_steps import COUNTABLE, STEPS, main  # noqa: E402

SCENARIOS = ["get_by_id", "get_by_id_rls", "list_offset_page1", "list_offset_page1_rls",
             "list_keyset", "list_keyset_rls"]
ROW = re.compile(r"^  (\w+) +(\d+\.\d) +(?:[+-]\d+\.\d)? *(\d+\.\d)")


@pytest.mark.timeout(600)
def test_every_scenario_prints_every_step(bench_env: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    main(["--size", "tiny", "--database", bench_env, "--reads", "3", "--rounds", "2"])
    out = capsys.readouterr().out
    blocks = re.split(r"^(?=\w+: median of 2 rounds of 3 reads)", out, flags=re.M)
    found = {}
    for block in blocks:
        if not block.strip() or ":" not in block:
            continue
        name = block.split(":", 1)[0]
        rows = [m for m in (ROW.match(line) for line in block.splitlines()) if m]
        found[name] = [m.group(1) for m in rows]
        assert all(float(m.group(2)) > 0 and float(m.group(3)) > 0 for m in rows), block
    assert found == {name: STEPS for name in SCENARIOS}


def test_instructions_refuse_a_pipelined_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--instructions", "--only", "list_keyset_rls"])
    assert exited.value.code == 2
    assert "counts only" in capsys.readouterr().err
    assert "list_keyset_rls" not in COUNTABLE
