"""FastAPI integration.

    app = FastAPI(lifespan=pgkeel_lifespan())
    install_error_handlers(app)            # {code, message, details, hint} bodies, documented
    app.add_middleware(RequestLimitsMiddleware)   # 413 / 431 before anything parses
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(HttpMetricsMiddleware)     # request duration by route template
    app.add_middleware(SecurityHeadersMiddleware)   # nosniff, Referrer-Policy, no-store
    app.include_router(health_router())    # /health, /health/ready, /metrics
    app.include_router(ops_router(roles={"ADMIN"}))   # /ops for administrators (`.ops_page`)

Rate limits (Redis sliding windows, lockouts with backoff, 429 + Retry-After):

    limiter = SlidingWindowLimiter(redis, name="signup", limit=5, window_s=60)
    @app.post("/signup", dependencies=[Depends(rate_limit(limiter))])

    class ThingCreate(ApiModel):            # unknown fields and NUL characters: 422
        name: Name = Field(max_length=100)

    @app.post("/things")
    async def things(body: ThingCreate, db: DbDep): ...

    router = APIRouter(route_class=DirectRoute)   # hot reads without FastAPI's solver
    router = APIRouter(route_class=IdempotentRoute)    # Idempotency-Key on chosen routes
    @router.post("/things")
    async def create(idem: IdempotencyKey): ...        # write through idem.tx

List endpoints take `list_query(table)` (the list grammar as a dependency, its parameters
documented in OpenAPI); `requires(permission)` and `authenticate` guard routes with bearer
tokens. Every route's error statuses are documented with `ErrorBody` (`pgkeel.web.contract`).
"""

from pgkeel.web.auth import authenticate, requires
from pgkeel.web.contract import (
    ErrorBody,
    declares_errors,
    declares_parameters,
    declares_security,
    document_errors,
    error_responses,
)
from pgkeel.web.errors import (
    HTTP_STATUS,
    error_body,
    error_response,
    install_error_handlers,
    status_for,
)
from pgkeel.web.health import health_router
from pgkeel.web.idempotency import (
    REPLAYED_HEADER,
    Idempotency,
    IdempotencyKey,
    IdempotencyKeyRequired,
    IdempotentRoute,
    idempotent,
)
from pgkeel.web.inputs import ApiModel, Email, Name, Secret, Text
from pgkeel.web.limits import RequestLimitsMiddleware
from pgkeel.web.listing import list_openapi, list_query
from pgkeel.web.metrics import HttpMetricsMiddleware
from pgkeel.web.ops_page import ops_router, ops_sampler, run_ops_sampler
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
from pgkeel.web.routing import DirectRoute, direct_dependency
from pgkeel.web.security_headers import SecurityHeadersMiddleware
from pgkeel.web.services import (
    CacheDep,
    DbDep,
    ServicesDep,
    get_cache,
    get_db,
    get_services,
    pgkeel_lifespan,
    request_services,
)

__all__ = [
    "HttpMetricsMiddleware",
    "ApiModel",
    "CacheDep",
    "DbDep",
    "DirectRoute",
    "direct_dependency",
    "Decision",
    "Lockout",
    "LockoutResult",
    "OnUnavailable",
    "SlidingWindowLimiter",
    "client_ip",
    "rate_limit",
    "Email",
    "ErrorBody",
    "HTTP_STATUS",
    "REPLAYED_HEADER",
    "Idempotency",
    "IdempotencyKey",
    "IdempotencyKeyRequired",
    "IdempotentRoute",
    "idempotent",
    "Name",
    "OrjsonResponse",
    "authenticate",
    "list_openapi",
    "list_query",
    "requires",
    "RequestIdMiddleware",
    "SecurityHeadersMiddleware",
    "RequestLimitsMiddleware",
    "Secret",
    "ServicesDep",
    "Text",
    "declares_errors",
    "declares_parameters",
    "declares_security",
    "document_errors",
    "error_body",
    "error_response",
    "error_responses",
    "get_cache",
    "get_db",
    "get_services",
    "health_router",
    "install_error_handlers",
    "ops_router",
    "ops_sampler",
    "run_ops_sampler",
    "pgkeel_lifespan",
    "request_services",
    "status_for",
]
