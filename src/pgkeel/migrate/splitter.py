"""A PostgreSQL-aware lexer and statement splitter that keeps line numbers.

Migrations run one statement at a time, so a failure can name its file and line and a file
run outside a transaction can resume after its last successful statement. Splitting on `;`
is only correct if everything that may contain a `;` is skipped, exactly as PostgreSQL's own
lexer does: `'...'` strings (with `''`), `E'...'` strings (with backslash escapes), `$$...$$`
and `$tag$...$tag$` bodies, `"quoted"` identifiers, `-- line` and nested `/* block */`
comments, parentheses, and the `BEGIN ATOMIC ... END` bodies of SQL-standard functions
(tracked with psql's own heuristic). `standard_conforming_strings` is assumed on, as it has
been by default since PostgreSQL 9.1.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "SqlSyntaxError",
    "Statement",
    "Token",
    "TokenKind",
    "needs_autocommit",
    "split_statements",
    "tokenize",
]

_DOLLAR_TAG = re.compile(r"\$([A-Za-z\u0080-\uffff_][A-Za-z\u0080-\uffff_0-9]*)?\$")
_PARAM = re.compile(r"\$[0-9]+")
_NUMBER = re.compile(r"(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)(?:[eE][+-]?[0-9]+)?"
                     r"|0[xXoObB][0-9A-Fa-f_]+")
_PLAIN_STRING_PREFIXES = frozenset({"B", "X", "N"})


class SqlSyntaxError(ValueError):
    """The SQL text cannot be split (an unterminated string, comment or dollar quote)."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


class TokenKind(StrEnum):
    WORD = "word"        # keyword or unquoted identifier, as written
    IDENT = "ident"      # "quoted identifier"
    STRING = "string"    # '...', E'...', B'...', X'...', U&'...', $tag$...$tag$
    NUMBER = "number"
    PARAM = "param"      # $1
    OP = "op"            # operators and punctuation, one character each (except ::)
    COMMENT = "comment"


@dataclass(frozen=True, slots=True)
class Token:
    """One lexical token with its place in the source."""

    kind: TokenKind
    text: str
    line: int
    start: int
    end: int
    depth: int
    """Parenthesis depth the token sits at (0 = top level of its statement)."""

    @property
    def upper(self) -> str:
        """The token as a keyword would be compared: upper case for words, else as written."""
        return self.text.upper() if self.kind is TokenKind.WORD else self.text

    @property
    def name(self) -> str:
        """The token as an identifier: unquoted words fold to lower case, quotes come off."""
        if self.kind is TokenKind.IDENT:
            return self.text[1:-1].replace('""', '"')
        return self.text.lower()


@dataclass(frozen=True, slots=True)
class Statement:
    """One SQL statement: its text (no trailing `;`), lines and code tokens (no comments)."""

    text: str
    line: int
    end_line: int
    tokens: tuple[Token, ...]

    @property
    def keywords(self) -> list[str]:
        """The top-level words, upper-cased: what the statement *does*."""
        return [t.upper for t in self.tokens if t.kind is TokenKind.WORD and t.depth == 0]

    def starts_with(self, *words: str) -> bool:
        """True when the statement's first top-level words are `words` (upper case)."""
        return tuple(self.keywords[:len(words)]) == words

    def line_of(self, position: int) -> int:
        """The source line of the 1-based character `position` PostgreSQL reports."""
        return self.line + self.text[:max(position - 1, 0)].count("\n")


# Statements PostgreSQL refuses to run inside a transaction block.
_AUTOCOMMIT_STARTS: tuple[tuple[str, ...], ...] = (
    ("VACUUM",), ("ALTER", "SYSTEM"), ("CREATE", "DATABASE"), ("DROP", "DATABASE"),
    ("CREATE", "TABLESPACE"), ("DROP", "TABLESPACE"), ("CREATE", "SUBSCRIPTION"),
    ("DROP", "SUBSCRIPTION"), ("REINDEX", "SCHEMA"), ("REINDEX", "DATABASE"),
    ("REINDEX", "SYSTEM"), ("DISCARD", "ALL"),
)


def needs_autocommit(statement: Statement) -> bool:
    """True for statements that cannot run inside a transaction block (CREATE INDEX
    CONCURRENTLY, VACUUM, ...); REFRESH MATERIALIZED VIEW CONCURRENTLY is not one of them."""
    words = statement.keywords
    if any(statement.starts_with(*start) for start in _AUTOCOMMIT_STARTS):
        return True
    return "CONCURRENTLY" in words and not statement.starts_with("REFRESH")


def _is_ident_start(char: str) -> bool:
    return char.isalpha() or char == "_" or ord(char) >= 0x80


def _is_ident_char(char: str) -> bool:
    return char.isalnum() or char in "_$" or ord(char) >= 0x80


class _Lexer:
    """Turns SQL text into tokens; raises SqlSyntaxError on unterminated constructs."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.newlines = [i for i, char in enumerate(text) if char == "\n"]
        self.depth = 0

    def line_at(self, offset: int) -> int:
        return bisect.bisect_right(self.newlines, offset - 1) + 1

    def tokens(self) -> Iterator[Token]:
        text, pos, size = self.text, 0, len(self.text)
        while pos < size:
            char = text[pos]
            if char.isspace():
                pos += 1
                continue
            end, kind = self._scan(pos)
            depth = self.depth
            if kind is TokenKind.OP:
                if char == "(":
                    self.depth += 1
                elif char == ")":
                    self.depth = max(self.depth - 1, 0)
                    depth = self.depth
            yield Token(kind, text[pos:end], self.line_at(pos), pos, end, depth)
            pos = end

    def _scan(self, pos: int) -> tuple[int, TokenKind]:
        text = self.text
        char, pair = text[pos], text[pos:pos + 2]
        if pair in ("--", "/*"):
            return self._comment(pos), TokenKind.COMMENT
        if char in "'\"$":
            return self._quote(pos)
        if _is_ident_start(char):
            return self._word(pos)
        if match := _NUMBER.match(text, pos):
            return match.end(), TokenKind.NUMBER
        return pos + (2 if pair == "::" else 1), TokenKind.OP

    def _quote(self, pos: int) -> tuple[int, TokenKind]:
        char = self.text[pos]
        if char == "'":
            return self._string(pos + 1, backslashes=False), TokenKind.STRING
        if char == '"':
            return self._quoted(pos + 1), TokenKind.IDENT
        return self._dollar(pos)

    def _word(self, pos: int) -> tuple[int, TokenKind]:
        text, end = self.text, pos + 1
        while end < len(text) and _is_ident_char(text[end]):
            end += 1
        word = text[pos:end].upper()
        rest = text[end:end + 2]
        if rest[:1] == "'" and word == "E":
            return self._string(end + 1, backslashes=True), TokenKind.STRING
        if rest[:1] == "'" and word in _PLAIN_STRING_PREFIXES:
            return self._string(end + 1, backslashes=False), TokenKind.STRING
        if word == "U" and rest == "&'":
            return self._string(end + 2, backslashes=False), TokenKind.STRING
        if word == "U" and rest == '&"':
            return self._quoted(end + 2), TokenKind.IDENT
        return end, TokenKind.WORD

    def _string(self, pos: int, *, backslashes: bool) -> int:
        """The end of a string whose opening quote ends just before `pos`."""
        text, start = self.text, pos - 1
        while pos < len(text):
            char = text[pos]
            if backslashes and char == "\\":
                pos += 2
                continue
            if char == "'":
                if text[pos + 1:pos + 2] == "'":
                    pos += 2
                    continue
                return pos + 1
            pos += 1
        raise SqlSyntaxError("unterminated string literal", self.line_at(start))

    def _quoted(self, pos: int) -> int:
        """The end of a quoted identifier whose opening quote ends just before `pos`."""
        text, start = self.text, pos - 1
        while True:
            end = text.find('"', pos)
            if end < 0:
                raise SqlSyntaxError("unterminated quoted identifier", self.line_at(start))
            if text[end + 1:end + 2] == '"':
                pos = end + 2
                continue
            return end + 1

    def _comment(self, pos: int) -> int:
        """The end of a `--` comment (before its newline) or a nested `/* */` comment."""
        text, start, depth = self.text, pos, 1
        if text.startswith("--", pos):
            end = text.find("\n", pos)
            return len(text) if end < 0 else end
        pos += 2
        while depth:
            opening, closing = text.find("/*", pos), text.find("*/", pos)
            if closing < 0:
                raise SqlSyntaxError("unterminated /* comment", self.line_at(start))
            if 0 <= opening < closing:
                depth, pos = depth + 1, opening + 2
            else:
                depth, pos = depth - 1, closing + 2
        return pos

    def _dollar(self, pos: int) -> tuple[int, TokenKind]:
        text = self.text
        if match := _PARAM.match(text, pos):
            return match.end(), TokenKind.PARAM
        if match := _DOLLAR_TAG.match(text, pos):
            tag = match.group(0)
            end = text.find(tag, match.end())
            if end < 0:
                raise SqlSyntaxError(f"unterminated dollar-quoted string {tag}",
                                     self.line_at(pos))
            return end + len(tag), TokenKind.STRING
        return pos + 1, TokenKind.OP


def tokenize(text: str) -> Iterator[Token]:
    """All tokens of `text`, comments included; SqlSyntaxError if something is unterminated."""
    return _Lexer(text).tokens()


class _AtomicTracker:
    """psql's heuristic for `CREATE [OR REPLACE] FUNCTION|PROCEDURE ... BEGIN ATOMIC ... END`:
    inside such a body, `;` does not end the statement (CASE ... END nests)."""

    def __init__(self) -> None:
        self.words: list[str] = []
        self.depth = 0

    def feed(self, token: Token) -> None:
        if token.kind is not TokenKind.WORD:
            return
        word = token.upper
        self.words.append(word)
        head = self.words[:4]
        in_routine = head[:1] == ["CREATE"] and (
            head[1:2] in (["FUNCTION"], ["PROCEDURE"])
            or (head[1:3] == ["OR", "REPLACE"] and head[3:4] in (["FUNCTION"], ["PROCEDURE"])))
        if not in_routine or token.depth:
            return
        if word == "BEGIN" or (word == "CASE" and self.depth):
            self.depth += 1
        elif word == "END" and self.depth:
            self.depth -= 1


def split_statements(text: str) -> tuple[list[Statement], list[Token]]:
    """Split SQL text into statements; also return every comment token (for directives)."""
    statements: list[Statement] = []
    comments: list[Token] = []
    current: list[Token] = []
    atomic = _AtomicTracker()

    def flush() -> None:
        nonlocal current, atomic
        if current:
            first, last = current[0], current[-1]
            body = text[first.start:last.end]
            statements.append(Statement(body, first.line,
                                        last.line + last.text.count("\n"), tuple(current)))
        current, atomic = [], _AtomicTracker()

    for token in tokenize(text):
        if token.kind is TokenKind.COMMENT:
            comments.append(token)
        elif token.text == ";" and token.kind is TokenKind.OP and token.depth == 0 \
                and atomic.depth == 0:
            flush()
        else:
            atomic.feed(token)
            current.append(token)
    flush()
    return statements, comments
