"""The idempotency test app as a real uvicorn service, for the crash test:

    ITEMS_SCHEMA=<schema> python -m uvicorn tests.idempotency.app_for_crash:app --port N
"""

from __future__ import annotations

import os

from pgkeel.config import load_settings
from tests.idempotency.conftest import make_app

app = make_app(load_settings(), os.environ["ITEMS_SCHEMA"])
