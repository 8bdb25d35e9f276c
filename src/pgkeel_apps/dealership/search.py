"""Car search that forgives typos: "Toyta Corola" finds the Toyota Corolla.

A query is split into words (letters and digits). A car matches when every word is a word of
its weighted tsvector, or a prefix of one, or when any word is within trigram distance of its
brand or model (pg_trgm's `%`, served by the GIN indexes on lower(brand) and lower(model)).
Ranking: exact matches first, then prefix matches, then fuzzy ones; within a tier, by the
summed trigram similarity of the words to brand and model, then the full-text rank, then the
newest car, then id (a total order).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from psycopg import sql

from pgkeel.errors import InvalidParameter

MAX_WORDS: Final = 6
MAX_WORD_CHARS: Final = 40
MIN_FUZZY_CHARS: Final = 3
"""Shorter words match exactly or by prefix only: two letters are within trigram distance of
too many names."""

_WORD = re.compile(r"[^\W_]+", re.UNICODE)

TRIGRAM_SCHEMA: Final = ("SELECT extnamespace::regnamespace::text FROM pg_extension"
                         " WHERE extname = 'pg_trgm'")

CAR_COLUMNS: Final = (
    "id", "slug", "brand", "model", "year", "price_eur", "mileage_km", "fuel", "transmission",
    "category", "color", "status", "is_featured", "meta_title", "meta_description",
    "view_count", "created_at", "updated_at")

EXACT, PREFIX, FUZZY = 3, 2, 1
TIERS: Final = {EXACT: "exact", PREFIX: "prefix", FUZZY: "fuzzy"}


@dataclass(frozen=True)
class SearchTerms:
    """A parsed `q`: its words and the two tsquery texts built from them."""

    words: tuple[str, ...]

    @property
    def exact(self) -> str:
        return " & ".join(self.words)

    @property
    def prefix(self) -> str:
        return " & ".join(f"{w}:*" for w in self.words)

    @property
    def fuzzy(self) -> tuple[str, ...]:
        return tuple(w for w in self.words if len(w) >= MIN_FUZZY_CHARS)


def parse_terms(q: str) -> SearchTerms:
    """The words of `q`, lower-cased (only letters and digits reach a tsquery, so no
    tsquery syntax can be injected); 400 when there are none or too many."""
    words = tuple(dict.fromkeys(w.lower() for w in _WORD.findall(q)))
    if not words:
        raise InvalidParameter("q needs at least one letter or digit.",
                               details={"parameter": "q"}, hint="Try q=toyota corolla.")
    if len(words) > MAX_WORDS or any(len(w) > MAX_WORD_CHARS for w in words):
        raise InvalidParameter(
            f"q may have at most {MAX_WORDS} words of at most {MAX_WORD_CHARS} characters.",
            details={"parameter": "q"})
    return SearchTerms(words)


class SearchSql:
    """The search statement for each number of fuzzy words, with pg_trgm's schema (found at
    start-up: the extension may live in any schema) quoted as an identifier."""

    def __init__(self, trigram_schema: str) -> None:
        self.trgm = sql.Identifier(trigram_schema)
        self._cache: dict[int, sql.Composed] = {}

    def statement(self, fuzzy_words: int) -> sql.Composed:
        if fuzzy_words not in self._cache:
            self._cache[fuzzy_words] = self._build(fuzzy_words)
        return self._cache[fuzzy_words]

    def _build(self, n: int) -> sql.Composed:
        similar = sql.SQL("OPERATOR({}.%%)").format(self.trgm)
        similarity = sql.SQL("{}.similarity").format(self.trgm)
        matches = [sql.SQL("lower(c.brand) {op} %(w{i})s OR lower(c.model) {op} %(w{i})s")
                   .format(op=similar, i=sql.SQL(str(i))) for i in range(n)]
        scores = [sql.SQL("greatest({sim}(lower(c.brand), %(w{i})s), "
                          "{sim}(lower(c.model), %(w{i})s))")
                  .format(sim=similarity, i=sql.SQL(str(i))) for i in range(n)]
        fuzzy = sql.SQL(" OR ").join(matches) if matches else sql.SQL("false")
        score = sql.SQL(" + ").join(scores) if scores else sql.SQL("0")
        columns = sql.SQL(", ").join(sql.SQL("c.{}").format(sql.Identifier(c))
                                     for c in CAR_COLUMNS)
        return sql.SQL("""
SELECT {columns},
       CASE WHEN c.search_vector @@ to_tsquery('simple', %(exact)s) THEN 3
            WHEN c.search_vector @@ to_tsquery('simple', %(prefix)s) THEN 2
            ELSE 1 END AS match_tier,
       ({score})::real AS similarity,
       ts_rank(c.search_vector, to_tsquery('simple', %(prefix)s)) AS rank
FROM dealership.cars AS c
WHERE c.organization_id = %(org)s AND c.deleted_at IS NULL AND c.status = ANY(%(statuses)s)
  AND (c.search_vector @@ to_tsquery('simple', %(prefix)s) OR {fuzzy})
ORDER BY match_tier DESC, similarity DESC, rank DESC, c.created_at DESC, c.id
LIMIT %(limit)s
""").format(columns=columns, score=score, fuzzy=fuzzy)

    @staticmethod
    def params(terms: SearchTerms, org: Any, statuses: list[str], limit: int
               ) -> dict[str, Any]:
        params: dict[str, Any] = {"exact": terms.exact, "prefix": terms.prefix, "org": org,
                                  "statuses": statuses, "limit": limit}
        params.update({f"w{i}": w for i, w in enumerate(terms.fuzzy)})
        return params
