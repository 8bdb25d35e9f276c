"""Migration versions: dot- or underscore-separated numbers compared part by part.

`1 < 1.1 < 1.2 < 2 < 10`, where a plain string sort would put `10` before `2`. Trailing zero
parts do not count (`1.0 == 1`) and leading zeros are ignored (`01 == 1`), so two files whose
versions only differ that way are reported as duplicates instead of silently ordered.
"""

from __future__ import annotations

import re
from functools import total_ordering

__all__ = ["Version"]

_VERSION = re.compile(r"^[0-9]+(?:[._][0-9]+)*$")


@total_ordering
class Version:
    """A parsed migration version such as `3`, `1.2.10` or `2024_05_01`."""

    __slots__ = ("_key", "parts")

    def __init__(self, parts: tuple[int, ...]) -> None:
        if not parts or any(part < 0 for part in parts):
            raise ValueError(f"invalid version parts {parts!r}")
        self.parts = parts
        key = parts
        while len(key) > 1 and key[-1] == 0:
            key = key[:-1]
        self._key = key

    @classmethod
    def parse(cls, text: str) -> Version:
        """Parse `1`, `1.1` or `1_1` (as in `V1_1__x.sql`); ValueError on anything else."""
        text = text.strip()
        if not _VERSION.match(text):
            raise ValueError(
                f"invalid version {text!r}: use numbers separated by '.' or '_', like 1.2")
        return cls(tuple(int(part) for part in re.split(r"[._]", text)))

    def next_major(self) -> Version:
        """The next whole version after this one (`1.4` -> `2`)."""
        return Version((self.parts[0] + 1,))

    def __str__(self) -> str:
        return ".".join(str(part) for part in self.parts)

    def __repr__(self) -> str:
        return f"Version({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key == other._key

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key < other._key

    def __hash__(self) -> int:
        return hash(self._key)
