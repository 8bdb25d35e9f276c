"""`pgkeel db ping` (is the database reachable, how fast, how are the pools) and `pgkeel db
roles` (the service's least-privilege roles, see `pgkeel.security.roles`)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer

from pgkeel.cli._output import JsonFlag, console, emit, reported_errors, run
from pgkeel.config import load_settings
from pgkeel.db import Database, PingResult
from pgkeel.embedded import EmbeddedServers
from pgkeel.security.roles import RoleNames, RolesReport, RoleTimeouts, provision_roles

app = typer.Typer(help="Check the database.", no_args_is_help=True)


async def _ping() -> tuple[str | None, PingResult]:
    settings = EmbeddedServers.for_settings(load_settings(), redis=False).settings
    async with Database.from_settings(settings, min_size=1) as db:
        return db.url, await db.ping()


@app.command()
def ping(as_json: JsonFlag = False) -> None:
    """Connect to the primary, run one query, report latency and pool stats."""
    with reported_errors(as_json):
        url, result = run(_ping())
        data = {"database": url, **asdict(result)}
        emit(data, as_json, lambda: console.print(
            f"ok: {url} answered in {result.latency_ms:.1f} ms "
            f"(server {result.server_version}, "
            f"{'replica' if result.in_recovery else 'primary'})"))


SchemaOpt = Annotated[list[str], typer.Option(
    "--schema", "-s", help="A schema the service uses (repeat). Its roles are granted by "
    "schema, including tables added later.")]


async def _roles(schemas: list[str], service: str, readonly_bypass_rls: bool,
                 password: str | None) -> RolesReport:
    settings = EmbeddedServers.for_settings(load_settings(), redis=False).settings
    assert settings.database_url is not None
    report, _ = await provision_roles(settings.database_url, RoleNames.for_service(service),
                                      schemas, password=password,
                                      readonly_bypass_rls=readonly_bypass_rls,
                                      app_timeouts=RoleTimeouts(
                                          settings.db_statement_timeout_ms,
                                          settings.db_lock_timeout_ms))
    return report


@app.command()
def roles(
    schema: SchemaOpt,
    service: Annotated[str, typer.Option(help="Role name prefix: <service>_migrator, "
                                         "<service>_app, <service>_readonly.")] = "pgkeel",
    readonly_bypass_rls: Annotated[bool, typer.Option(
        help="Let the readonly role read every organization (cross-tenant analytics).")
    ] = False,
    password: Annotated[str | None, typer.Option(
        envvar="DB_ROLE_PASSWORD", help="Password for all three roles (default: derived "
        "from DATABASE_URL's password; none on trust authentication).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create the service's migrator, app and readonly roles and grant them its schemas;
    give the app role DB_STATEMENT_TIMEOUT_MS and DB_LOCK_TIMEOUT_MS as its own timeouts
    (connects with DATABASE_URL as an admin; idempotent)."""
    with reported_errors(as_json):
        report = run(_roles(schema, service, readonly_bypass_rls, password))
        data = report.to_dict()
        emit(data, as_json, lambda: console.print(
            f"{'changed' if report.changed else 'unchanged'}: roles "
            f"{', '.join(report.roles.all())} on schemas {', '.join(report.schemas)}"
            + (f" (created {', '.join(report.created)})" if report.created else "")))
