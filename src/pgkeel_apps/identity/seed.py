"""Sample data for `make demo`: organizations, roles, users and memberships, loaded with COPY.

Each organization `org-N` has `admin@org-N.example` (ADMIN), `viewer@org-N.example` (VIEWER:
USERS_READ only) and `nobody@org-N.example` (no role), all with DEMO_PASSWORD, plus generated
users. Demo-only credentials. Loading is skipped when `org-1` already exists.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Iterator
from typing import Any, LiteralString

from rich.progress import Progress

from pgkeel.db import Database
from pgkeel.errors import ConfigError
from pgkeel.security import hash_password
from pgkeel_apps.sample import copy_rows

ROLE_PERMISSIONS = {
    "SUPER_ADMIN": ["USERS_READ", "USERS_WRITE", "AUDIT_READ", "ROLES_WRITE", "CATALOG_WRITE",
                    "ORDERS_READ", "INVENTORY_READ", "INVENTORY_WRITE", "PAYMENTS_WRITE"],
    "ADMIN": ["USERS_READ", "USERS_WRITE", "AUDIT_READ", "CATALOG_WRITE", "ORDERS_READ",
              "INVENTORY_READ", "INVENTORY_WRITE", "PAYMENTS_WRITE"],
    "VIEWER": ["USERS_READ"],
}
FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret",
         "Dennis", "Radia", "Linus", "Guido", "Anita", "Tim", "Hedy", "Niklaus", "Shafi"]
LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson",
        "Hamilton", "Ritchie", "Perlman", "Torvalds", "Rossum", "Borg", "Berners-Lee", "Lamarr"]
SPECIAL = ("admin", "viewer", "nobody")
EXISTS: LiteralString = "SELECT 1 FROM identity.organizations WHERE slug = 'org-1'"
DEMO_ACCOUNTS: LiteralString = r"""
SELECT count(*) FROM identity.users u
JOIN identity.organizations o ON o.id = u.organization_id
WHERE o.slug ~ '^org-[0-9]+$' AND u.email ~ '^(admin|viewer|nobody)@org-[0-9]+\.example$'
  AND u.deleted_at IS NULL AND u.password_hash IS NOT NULL
"""
COLUMNS = {
    "organizations": ("id", "slug", "name", "created_at"),
    "roles": ("id", "organization_id", "name", "description", "permissions", "is_system"),
    "users": ("id", "organization_id", "email", "display_name", "password_hash", "status",
              "is_active", "deleted_at", "created_at", "updated_at"),
    "user_roles": ("organization_id", "user_id", "role_id", "is_active", "assigned_at"),
}


def _users(org: uuid.UUID, n: int, *, count: int, password_hash: str,
           roles: dict[str, uuid.UUID], rng: random.Random,
           now: dt.datetime) -> Iterator[tuple[tuple[Any, ...], list[Any]]]:
    """(user row, membership rows) for one organization."""
    for i in range(count):
        user_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        created = now - dt.timedelta(seconds=rng.randrange(0, 730 * 86400))
        if i < len(SPECIAL):
            kind = SPECIAL[i]
            email, name = f"{kind}@org-{n}.example", f"{kind.title()} of org-{n}"
            status, active, deleted, secret = "active", True, None, password_hash
            member = {"admin": "ADMIN", "viewer": "VIEWER"}.get(kind)
        else:
            first, last = rng.choice(FIRST), rng.choice(LAST)
            email = f"{first}.{last}.{i}@org-{n}.example".lower()
            name = f"{first} {last}"
            status = rng.choices(["active", "suspended", "invited"], [85, 10, 5])[0]
            active = status == "active"
            deleted = created + dt.timedelta(days=1) if rng.random() < 0.02 else None
            secret = None
            member = rng.choices(["VIEWER", "ADMIN", None], [70, 5, 25])[0]
        links = [(org, user_id, roles[member], True, created)] if member else []
        yield (user_id, org, email, name, secret, status, active, deleted, created,
               created), links


async def load_sample_data(db: Database, *, organizations: int = 100, users: int = 100_000,
                           password: str = "pgkeel-demo",  # noqa: S107 -- demo only
                           show_progress: bool = True,
                           seed: int = 42) -> bool:
    """Load the demo data set; False (and nothing written) when it is already there."""
    if await db.fetch_val(EXISTS, readonly=True):
        return False
    rng = random.Random(seed)  # noqa: S311 -- sample data, not secrets
    now = dt.datetime.now(dt.UTC)
    password_hash = hash_password(password)
    per_org = max(len(SPECIAL), users // organizations)
    with Progress(disable=not show_progress, transient=False) as progress:
        task = progress.add_task("Loading sample data", total=organizations)
        for start in range(0, organizations, 10):
            orgs, roles, people, links = [], [], [], []
            for n in range(start + 1, min(start + 10, organizations) + 1):
                org = uuid.UUID(int=rng.getrandbits(128), version=4)
                orgs.append((org, f"org-{n}", f"Organization {n}", now))
                role_ids = {}
                for name, permissions in ROLE_PERMISSIONS.items():
                    role_ids[name] = uuid.UUID(int=rng.getrandbits(128), version=4)
                    roles.append((role_ids[name], org, name, f"{name.title()} role",
                                  permissions, True))
                for user, member in _users(org, n, count=per_org, password_hash=password_hash,
                                           roles=role_ids, rng=rng, now=now):
                    people.append(user)
                    links += member
            for table, rows in (("organizations", orgs), ("roles", roles), ("users", people),
                                ("user_roles", links)):
                await copy_rows(db, "identity", table, COLUMNS[table], rows)
            progress.advance(task, len(orgs))
    await db.execute("ANALYZE identity.users, identity.user_roles, identity.roles")
    return True


async def refuse_demo_accounts(db: Database) -> None:
    """Raise `ConfigError` when demo accounts (whose password is published) exist: the
    service must not start in production with them."""
    count = await db.fetch_val(DEMO_ACCOUNTS, readonly=True)
    if count:
        raise ConfigError(
            f"{count} demo accounts exist and APP_ENV=production: refusing to start.",
            details={"demo_accounts": count},
            hint="Delete the sample organizations (org-N) or their admin/viewer/nobody "
                 "users, and keep DEMO_SEED unset or false in production.")
