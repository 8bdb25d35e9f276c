"""The /ops page: health checks, slow statements, cache hit rates, pool, outbox and audit
queue, and charts of the last hour, rendered on the server (Jinja2, inline SVG, no script)
for administrators only.

    app.include_router(ops_router(roles={"ADMIN", "SUPER_ADMIN"}))
    app = FastAPI(lifespan=pgkeel_lifespan(then=ops_sampler()))    # the charts' history

It authenticates with `app.state.pgkeel_authenticator`, like `requires(...)`: a bearer
header, or the cookie its login form sets from a token (see `.access`). `/ops/json` returns
the same data as JSON.
"""

from pgkeel.web.ops_page.access import COOKIE
from pgkeel.web.ops_page.data import collect, panels
from pgkeel.web.ops_page.routes import ops_router
from pgkeel.web.ops_page.sampler import ops_sampler, run_ops_sampler

__all__ = ["COOKIE", "collect", "ops_router", "ops_sampler", "panels", "run_ops_sampler"]
