"""`python -m pgkeel_apps`: serve the reference service on 127.0.0.1:$PORT (default 8000)."""

from __future__ import annotations

import logging

import uvicorn
from pydantic import ValidationError

from pgkeel.config import load_settings
from pgkeel.errors import PgkeelError
from pgkeel_apps.main import create_app
from pgkeel_apps.settings import DemoSettings


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    try:
        settings = load_settings()
        port = DemoSettings().port
    except (PgkeelError, ValidationError) as exc:
        raise SystemExit(f"error: {exc}") from None
    print(f"pgkeel demo: http://127.0.0.1:{port}  (/docs, /health/ready, /metrics)")  # noqa: T201
    uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="info")


if __name__ == "__main__":
    main()
