"""FastAPI integration.

    app = FastAPI(lifespan=pgkeel_lifespan())
    install_error_handlers(app)            # {code, message, details, hint} bodies
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)   # nosniff, Referrer-Policy, no-store
    app.include_router(health_router())    # /health, /health/ready, /metrics

Rate limits (Redis sliding windows, lockouts with backoff, 429 + Retry-After):

    limiter = SlidingWindowLimiter(redis, name="signup", limit=5, window_s=60)
    @app.post("/signup", dependencies=[Depends(rate_limit(limiter))])

    @app.get("/things")
    async def things(db: DbDep): ...

    router = APIRouter(route_class=IdempotentRoute)    # Idempotency-Key on chosen routes
    @router.post("/things")
    async def create(idem: IdempotencyKey): ...        # write through idem.tx

List endpoints take `list_query(table)` (the list grammar as a dependency) and
`list_openapi(table)` (its parameters in the OpenAPI schema); `requires(permission)` and
`authenticate` guard routes with bearer tokens.
"""

from pgkeel.web.auth import authenticate, requires
from pgkeel.web.errors import HTTP_STATUS, error_response, install_error_handlers, status_for
from pgkeel.web.health import health_router
from pgkeel.web.idempotency import (
    REPLAYED_HEADER,
    Idempotency,
    IdempotencyKey,
    IdempotencyKeyRequired,
    IdempotentRoute,
    idempotent,
)
from pgkeel.web.listing import list_openapi, list_query
from pgkeel.web.ratelimit import (
    Decision,
    Lockout,
    LockoutResult,
    OnUnavailable,
    SlidingWindowLimiter,
    client_ip,
    rate_limit,
)
from pgkeel.web.request_id import RequestIdMiddleware
from pgkeel.web.responses import OrjsonResponse
from pgkeel.web.security_headers import SecurityHeadersMiddleware
from pgkeel.web.services import DbDep, ServicesDep, get_db, get_services, pgkeel_lifespan

__all__ = [
    "DbDep",
    "Decision",
    "Lockout",
    "LockoutResult",
    "OnUnavailable",
    "SlidingWindowLimiter",
    "client_ip",
    "rate_limit",
    "HTTP_STATUS",
    "REPLAYED_HEADER",
    "Idempotency",
    "IdempotencyKey",
    "IdempotencyKeyRequired",
    "IdempotentRoute",
    "idempotent",
    "OrjsonResponse",
    "authenticate",
    "list_openapi",
    "list_query",
    "requires",
    "RequestIdMiddleware",
    "SecurityHeadersMiddleware",
    "ServicesDep",
    "error_response",
    "get_db",
    "get_services",
    "health_router",
    "install_error_handlers",
    "pgkeel_lifespan",
    "status_for",
]
