"""NIST SP 800-63B password checks (length, the bundled breached list, context words, no
composition rules) and mixed-script email names."""

from __future__ import annotations

import pytest

from pgkeel.errors import RuleViolation
from pgkeel.security import (
    check_email_local_part,
    check_password,
    is_common_password,
    mixed_scripts,
    password_problems,
)


def test_the_bundled_list_is_loaded_and_case_insensitive():
    for common in ("123456", "password", "qwerty", "Password", " iloveyou "):
        assert is_common_password(common), common
    assert not is_common_password("correct horse battery staple, 2026")


@pytest.mark.parametrize(("password", "problem"), [
    ("short", "at least 15"),
    ("passwordpassword"[:15] + "", None),
    ("1234567890123456", None),
    ("x" * 300, "at most 256"),
])
def test_length_limits(password, problem):
    problems = password_problems(password)
    if problem is None:
        assert not [p for p in problems if "characters" in p]
    else:
        assert any(problem in p for p in problems), problems


def test_no_composition_rules_and_any_characters():
    check_password("all lower case words here")  # no digits, capitals or symbols needed
    check_password("пароль из пятнадцати")  # any script
    check_password("🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂🙂")


def test_common_and_context_passwords_are_refused_with_every_problem_named():
    with pytest.raises(RuleViolation) as caught:
        check_password("password")
    assert caught.value.details["rule"] == "password_policy"
    assert len(caught.value.details["problems"]) == 2  # too short and common
    with pytest.raises(RuleViolation):
        check_password("margaret-hamilton-2026", context=["margaret", "acme"])


def test_mixed_script_local_parts_are_refused():
    assert mixed_scripts("\u0430dmin") == ["CYRILLIC", "LATIN"]  # Cyrillic U+0430 + Latin dmin
    assert mixed_scripts("admin") == []
    assert mixed_scripts("иван") == []  # one script, even if not Latin
    assert mixed_scripts("ada.lovelace+42") == []
    with pytest.raises(RuleViolation) as caught:
        check_email_local_part("\u0430dmin@org-1.example")
    assert caught.value.details["rule"] == "mixed_script"
    check_email_local_part("admin@\u0430cme.example")  # the domain is the email library's job
