"""The statement checks behind `pgkeel.migrate.lint` (token based; see RULES for messages)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from pgkeel.migrate.loader import parse_duration_ms
from pgkeel.migrate.splitter import Statement, Token, TokenKind, needs_autocommit

Hit = tuple[str, int]
"""(rule code, line)."""

_VOLATILE = frozenset({
    "RANDOM", "CLOCK_TIMESTAMP", "TIMEOFDAY", "GEN_RANDOM_UUID", "UUID_GENERATE_V1",
    "UUID_GENERATE_V1MC", "UUID_GENERATE_V4", "UUIDV4", "UUIDV7", "NEXTVAL", "SETSEED",
    "TXID_CURRENT", "PG_CURRENT_XACT_ID",
})
_SERIAL = frozenset({"SERIAL", "BIGSERIAL", "SMALLSERIAL", "SERIAL2", "SERIAL4", "SERIAL8"})
_SMALL_INT = frozenset({"INT", "INTEGER", "INT4", "SMALLINT", "INT2", "SERIAL", "SERIAL4",
                        "SMALLSERIAL", "SERIAL2"})
_TRANSACTION_CONTROL = frozenset({"BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT",
                                  "SAVEPOINT", "RELEASE"})
_CONSTRAINT_STARTS = frozenset({"CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN",
                                "EXCLUDE"})
_MAX_LOCK_TIMEOUT_MS = 10_000
_MAX_IDENTIFIER_BYTES = 63


@dataclass
class FileContext:
    """What the file has done so far: objects it created are new, hence empty."""

    transactional: bool
    tables: set[str] = field(default_factory=set)
    indexes: set[str] = field(default_factory=set)
    views: set[str] = field(default_factory=set)


def _words(tokens: Sequence[Token]) -> list[str]:
    return [t.upper for t in tokens if t.kind is TokenKind.WORD and t.depth == tokens[0].depth]


def _has_sequence(words: Sequence[str], *sequence: str) -> bool:
    size = len(sequence)
    return any(tuple(words[i:i + size]) == sequence for i in range(len(words) - size + 1))


def _name_at(tokens: Sequence[Token], index: int) -> tuple[str | None, int]:
    """A possibly qualified name starting at `index`: (last part, index after it)."""
    name = None
    while index < len(tokens) and tokens[index].kind in (TokenKind.WORD, TokenKind.IDENT):
        name = tokens[index].name
        index += 1
        if index < len(tokens) and tokens[index].text == "." and index + 1 < len(tokens):
            index += 1
            continue
        break
    return name, index


def _skip(tokens: Sequence[Token], index: int, *words: str) -> int:
    """Skip any of the optional `words` (e.g. IF, NOT, EXISTS, ONLY) at `index`."""
    while index < len(tokens) and tokens[index].kind is TokenKind.WORD \
            and tokens[index].upper in words:
        index += 1
    return index


def _split_top(tokens: Sequence[Token], depth: int) -> list[list[Token]]:
    """Split on commas at `depth` (ALTER TABLE actions, CREATE TABLE column definitions)."""
    parts: list[list[Token]] = [[]]
    for token in tokens:
        if token.kind is TokenKind.OP and token.text == "," and token.depth == depth:
            parts.append([])
        else:
            parts[-1].append(token)
    return [part for part in parts if part]


def check_header(lock_timeout_ms: int | None, line: int) -> Iterator[Hit]:
    if lock_timeout_ms is not None and (lock_timeout_ms == 0
                                        or lock_timeout_ms > _MAX_LOCK_TIMEOUT_MS):
        yield "PGK015", line


def check_statement(statement: Statement, context: FileContext) -> list[Hit]:
    """Every rule hit in one statement; also records what the statement creates."""
    hits: list[Hit] = []
    words = statement.keywords
    first = words[0] if words else ""
    line = statement.line
    if first in _TRANSACTION_CONTROL or statement.starts_with("PREPARE", "TRANSACTION"):
        hits.append(("PGK014", line))
    if context.transactional and needs_autocommit(statement):
        hits.append(("PGK004", line))
    hits += _identifiers(statement)
    if statement.starts_with("ALTER", "TABLE"):
        hits += _alter_table(statement, context)
    elif first == "CREATE":
        hits += _create(statement, context)
    elif first == "DROP":
        hits += _drop(statement, context)
    elif first == "REINDEX" and "CONCURRENTLY" not in words:
        hits.append(("PGK003", line))
    elif statement.starts_with("VACUUM", "FULL") or first == "CLUSTER" or (
            first == "VACUUM" and _has_sequence(_paren_words(statement), "FULL")):
        hits.append(("PGK016", line))
    elif statement.starts_with("REFRESH", "MATERIALIZED", "VIEW") and \
            "CONCURRENTLY" not in words:
        name, _ = _name_at(statement.tokens, 3)
        if name not in context.views:
            hits.append(("PGK017", line))
    elif first == "SET" and _sets_long_lock_timeout(words, statement.tokens):
        hits.append(("PGK015", line))
    return hits


def _paren_words(statement: Statement) -> list[str]:
    return [t.upper for t in statement.tokens if t.kind is TokenKind.WORD]


def _sets_long_lock_timeout(words: list[str], tokens: Sequence[Token]) -> bool:
    if "LOCK_TIMEOUT" not in words:
        return False
    values = [t.text.strip("'") for t in tokens if t.kind in (TokenKind.NUMBER,
                                                              TokenKind.STRING)]
    for value in values:
        try:
            ms = parse_duration_ms(value)
        except ValueError:
            continue
        return ms == 0 or ms > _MAX_LOCK_TIMEOUT_MS
    return False


def _identifiers(statement: Statement) -> Iterator[Hit]:
    for token in statement.tokens:
        if token.kind in (TokenKind.WORD, TokenKind.IDENT) \
                and len(token.name.encode()) > _MAX_IDENTIFIER_BYTES:
            yield "PGK020", token.line


def _create(statement: Statement, context: FileContext) -> list[Hit]:
    tokens, words = statement.tokens, statement.keywords
    if "INDEX" in words[:3]:
        index = words.index("INDEX") + 1
        concurrent = "CONCURRENTLY" in words
        position = _skip(tokens, index, "CONCURRENTLY", "IF", "NOT", "EXISTS")
        if position < len(tokens) and tokens[position].upper != "ON":
            name, position = _name_at(tokens, position)
            if name:
                context.indexes.add(name)
        table, _ = _name_at(tokens, _skip(tokens, position, "ON", "ONLY"))
        if not concurrent and table not in context.tables:
            return [("PGK001", statement.line)]
        return []
    if "TABLE" in words[:4]:
        position = _skip(tokens, words.index("TABLE") + 1, "IF", "NOT", "EXISTS")
        name, _ = _name_at(tokens, position)
        if name:
            context.tables.add(name)
        return list(_column_types(tokens, context_new=True))
    if _has_sequence(words[:4], "MATERIALIZED", "VIEW"):
        position = _skip(tokens, words.index("VIEW") + 1, "IF", "NOT", "EXISTS")
        name, _ = _name_at(tokens, position)
        if name:
            context.views.add(name)
    return []


def _column_types(tokens: Sequence[Token], *, context_new: bool) -> Iterator[Hit]:
    """prefer-timestamptz, prefer-text and (in CREATE TABLE) prefer-bigint-identity."""
    for position, token in enumerate(tokens):
        if token.kind is not TokenKind.WORD or position == 0:
            continue
        before, after = tokens[position - 1], tokens[position + 1:position + 2]
        is_type = before.kind in (TokenKind.WORD, TokenKind.IDENT)
        word = token.upper
        if word == "TIMESTAMP" and is_type and not (
                after and (after[0].upper in ("WITH",) or after[0].kind is TokenKind.STRING)):
            rest = [t.upper for t in tokens[position + 1:position + 6]
                    if t.kind is TokenKind.WORD]
            if rest[:3] != ["WITH", "TIME", "ZONE"]:
                yield "PGK018", token.line
        if word in ("VARCHAR", "CHAR", "CHARACTER") and is_type and after \
                and (after[0].text == "(" or after[0].upper == "VARYING"):
            yield "PGK019", token.line
    if context_new:
        for column in _split_top([t for t in tokens if t.depth >= 1], 1):
            words = [t.upper for t in column if t.kind is TokenKind.WORD]
            if len(words) >= 2 and words[0] not in _CONSTRAINT_STARTS \
                    and column[0].depth == 1 and _type_word(column) in _SMALL_INT \
                    and _has_sequence(words, "PRIMARY", "KEY"):
                yield "PGK021", column[0].line


def _type_word(column: Sequence[Token]) -> str:
    return column[1].upper if len(column) > 1 else ""


def _drop(statement: Statement, context: FileContext) -> list[Hit]:
    tokens, words = statement.tokens, statement.keywords
    if statement.starts_with("DROP", "INDEX"):
        if "CONCURRENTLY" in words:
            return []
        position = _skip(tokens, 2, "IF", "EXISTS")
        names = [_name_at(part, 0)[0] for part in _split_top(tokens[position:], 0)]
        if all(name in context.indexes for name in names):
            return []
        return [("PGK002", statement.line)]
    if statement.starts_with("DROP", "TABLE"):
        position = _skip(tokens, 2, "IF", "EXISTS")
        names = [_name_at(part, 0)[0] for part in _split_top(tokens[position:], 0)]
        if not all(name in context.tables for name in names):
            return [("PGK012", statement.line)]
    return []


def _alter_table(statement: Statement, context: FileContext) -> list[Hit]:
    tokens = statement.tokens
    table, position = _name_at(tokens, _skip(tokens, 2, "IF", "EXISTS", "ONLY"))
    if position < len(tokens) and tokens[position].text == "*":
        position += 1
    new = table in context.tables
    hits: list[Hit] = []
    for action in _split_top(tokens[position:], 0):
        hits += _alter_action(action, new)
    return hits + list(_column_types(tokens, context_new=False))


def _alter_action(action: list[Token], new_table: bool) -> list[Hit]:
    words = _words(action)
    line = action[0].line
    verb = words[0] if words else ""
    code = None
    if verb == "RENAME" and words[1:2] != ["CONSTRAINT"]:
        code = "PGK013"
    elif verb == "DETACH" and "CONCURRENTLY" not in words:
        code = "PGK022"
    elif new_table:
        code = None
    elif verb == "DROP" and words[1:2] != ["CONSTRAINT"]:
        code = "PGK011"
    elif verb == "ALTER" and "TYPE" in words:
        code = "PGK007"
    elif verb == "ALTER" and _has_sequence(words, "SET", "NOT", "NULL"):
        code = "PGK008"
    elif verb == "ADD" and words[1:2] and words[1] in _CONSTRAINT_STARTS:
        return _add_constraint(words, line)
    elif verb == "ADD":
        return _add_column(action, words, line)
    return [] if code is None else [(code, line)]


def _add_constraint(words: list[str], line: int) -> list[Hit]:
    not_valid = _has_sequence(words, "NOT", "VALID")
    if ("FOREIGN" in words or "CHECK" in words) and not not_valid:
        return [("PGK009", line)]
    if ("UNIQUE" in words or "PRIMARY" in words or "EXCLUDE" in words) \
            and not _has_sequence(words, "USING", "INDEX"):
        return [("PGK010", line)]
    return []


def _add_column(action: list[Token], words: list[str], line: int) -> list[Hit]:
    hits: list[Hit] = []
    has_default = "DEFAULT" in words
    generated = "GENERATED" in words
    rewrites = generated and ("STORED" in words or "IDENTITY" in words)
    if _has_sequence(words, "NOT", "NULL") and not has_default and not generated:
        hits.append(("PGK005", line))
    all_words = [t.upper for t in action if t.kind is TokenKind.WORD]
    volatile = any(
        token.kind is TokenKind.WORD and token.upper in _VOLATILE
        and position + 1 < len(action) and action[position + 1].text == "("
        for position, token in enumerate(action))
    if rewrites or volatile or any(word in _SERIAL for word in all_words):
        hits.append(("PGK006", line))
    if "UNIQUE" in words or _has_sequence(words, "PRIMARY", "KEY"):
        hits.append(("PGK010", line))
    return hits
