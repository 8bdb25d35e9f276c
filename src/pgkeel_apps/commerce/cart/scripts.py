"""The cart's Lua scripts, loaded from `scripts/*.lua` with the shared prelude prepended."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Final

DIRECTORY: Final = Path(__file__).parent / "scripts"

NAMES: Final = ("add_item_to_cart", "remove_item_from_cart", "update_item_quantity",
                "clear_cart", "cleanup_expired_carts", "release_cart_lock")


@cache
def source(name: str) -> str:
    """The full text of script `name`: `common.lua`, then `<name>.lua`."""
    if name not in NAMES:
        raise KeyError(name)
    common = (DIRECTORY / "common.lua").read_text()
    return common + "\n" + (DIRECTORY / f"{name}.lua").read_text()
