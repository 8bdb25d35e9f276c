"""Authentication building blocks, row-level security and least-privilege roles.

Public API:
    hash_password, verify_password, PasswordCheck    Argon2id, bcrypt verified and upgraded
    hash_password_async, verify_password_async       the same, off the event loop
    check_password, password_problems, is_common_password
                                                       NIST SP 800-63B length + breached list
    check_email_local_part, mixed_scripts              lookalike (mixed-script) email names
    issue_token, token_digest                          opaque bearer tokens stored hashed
    Principal, Authenticator                           who is calling, and how to find out
    rls_sql, rls_sql_for, tenant_predicate             the tenant policy SQL (`.rls`)
    RoleNames, RolesReport, RoleTimeouts, ensure_roles, provision_roles, role_url,
    derive_password
                                                       migrator / app / readonly (`.roles`)
FastAPI dependencies live in `pgkeel.web` (`requires("USERS_READ")`).
"""

from pgkeel.security.hygiene import (
    MIN_PASSWORD_CHARS,
    check_email_local_part,
    check_password,
    is_common_password,
    mixed_scripts,
    password_problems,
)
from pgkeel.security.passwords import (
    PasswordCheck,
    checks_in_flight,
    hash_password,
    hash_password_async,
    verify_password,
    verify_password_async,
)
from pgkeel.security.principal import Authenticator, Principal
from pgkeel.security.rls import rls_sql, rls_sql_for, tenant_predicate
from pgkeel.security.roles import (
    RoleNames,
    RolesReport,
    RoleTimeouts,
    derive_password,
    ensure_roles,
    provision_roles,
    role_url,
)
from pgkeel.security.tokens import issue_token, token_digest

__all__ = [
    "MIN_PASSWORD_CHARS",
    "Authenticator",
    "check_email_local_part",
    "check_password",
    "is_common_password",
    "mixed_scripts",
    "password_problems",
    "PasswordCheck",
    "Principal",
    "RoleNames",
    "RolesReport",
    "RoleTimeouts",
    "derive_password",
    "ensure_roles",
    "checks_in_flight",
    "hash_password",
    "hash_password_async",
    "issue_token",
    "provision_roles",
    "rls_sql",
    "rls_sql_for",
    "role_url",
    "tenant_predicate",
    "token_digest",
    "verify_password",
    "verify_password_async",
]
