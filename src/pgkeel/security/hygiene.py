"""Account hygiene: passwords as NIST SP 800-63B asks, and lookalike email addresses.

Passwords: a minimum length (15 characters for a password that is the only factor, 800-63B-4
section 3.1.1.2), at most `MAX_PASSWORD_CHARS`, any characters (no composition rules), and
never one from a bundled list of 19,640 common and breached passwords, nor one that is the
account's own email name or organization. Lengths count Unicode code points after NFKC.

Emails: a local part that mixes scripts ("admin" typed with a Cyrillic a, U+0430, among Latin
letters) is how lookalike accounts are made, so `mixed_scripts` names the scripts and
`check_email_local_part` refuses them.
"""

from __future__ import annotations

import gzip
import unicodedata
from collections.abc import Iterable
from functools import cache
from importlib import resources

from pgkeel.errors import RuleViolation

__all__ = ["MIN_PASSWORD_CHARS", "check_email_local_part", "check_password", "is_common_password",
           "mixed_scripts", "password_problems"]

MIN_PASSWORD_CHARS = 15
MAX_PASSWORD_CHARS = 256


@cache
def _common() -> frozenset[str]:
    raw = resources.files("pgkeel.security").joinpath("data/common-passwords.txt.gz")
    with raw.open("rb") as packed, gzip.open(packed, "rt", encoding="utf-8") as lines:
        return frozenset(line.strip() for line in lines if line.strip())


def is_common_password(password: str) -> bool:
    """True when `password` (case-insensitively, spaces trimmed) is on the bundled list."""
    return password.strip().lower() in _common()


def password_problems(password: str, *, min_chars: int = MIN_PASSWORD_CHARS,
                      context: Iterable[str] = ()) -> list[str]:
    """What is wrong with `password` (empty when it is acceptable). `context`: words the
    password must not be (the email's local part, the organization, the service's name)."""
    text = unicodedata.normalize("NFKC", password)
    problems = []
    if len(text) < min_chars:
        problems.append(f"must be at least {min_chars} characters")
    if len(text) > MAX_PASSWORD_CHARS:
        problems.append(f"must be at most {MAX_PASSWORD_CHARS} characters")
    if is_common_password(text):
        problems.append("is a commonly used or breached password")
    folded = text.strip().lower()
    if any(len(w) >= 4 and w.lower() in folded for w in context if w):
        problems.append("must not contain the account's name or organization")
    return problems


def check_password(password: str, *, min_chars: int = MIN_PASSWORD_CHARS,
                   context: Iterable[str] = ()) -> None:
    """Raise `RuleViolation` (422, rule `password_policy`) naming every problem."""
    problems = password_problems(password, min_chars=min_chars, context=context)
    if problems:
        raise RuleViolation("The password " + "; ".join(problems) + ".",
                            details={"rule": "password_policy", "field": "password",
                                     "problems": problems},
                            hint="Use a long passphrase; any characters are allowed.")


def mixed_scripts(text: str) -> list[str]:
    """The scripts (LATIN, CYRILLIC, GREEK, ...) of the letters in `text`, when more than
    one; digits and punctuation belong to no script."""
    scripts = set()
    for char in text:
        if char.isalpha():
            name = unicodedata.name(char, "UNKNOWN")
            scripts.add(name.split(" ", 1)[0])
    return sorted(scripts) if len(scripts) > 1 else []


def check_email_local_part(email: str) -> None:
    """Raise `RuleViolation` (422, rule `mixed_script`) for a lookalike local part."""
    local = email.rpartition("@")[0]
    scripts = mixed_scripts(local)
    if scripts:
        raise RuleViolation("The email's name mixes scripts (" + ", ".join(scripts) + ").",
                            details={"rule": "mixed_script", "field": "email",
                                     "scripts": scripts},
                            hint="Type the address in a single script.")
