"""Repositories: declared tables, tenant-scoped CRUD, and the list grammar.

Public API:
    Table, CustomFilter                 a table's declaration (`pgkeel.repo.table`)
    Field, FieldType, Op, Search        its columns (`pgkeel.repo.fields`)
    Repository                          CRUD + list for one table (`pgkeel.repo.repository`)
    ListQuery, Filter, SortKey, CountMode   a list request (`pgkeel.repo.query`)
    parse_list_params                   HTTP query string -> ListQuery (`pgkeel.repo.params`)
    Page                                a page of a list, offset or keyset (`pgkeel.repo.listing`)
    CursorCodec                         signed keyset cursors (`pgkeel.repo.cursor`)
    Registry                            tables by name, `find_many`, start-up checks
"""

from pgkeel.repo.catalog import Advice, check_tables
from pgkeel.repo.cursor import CursorCodec
from pgkeel.repo.fields import COMPARABLE, TEXTUAL, Field, FieldType, Op, Search
from pgkeel.repo.listing import Page
from pgkeel.repo.params import parse_list_params
from pgkeel.repo.query import CountMode, Filter, ListQuery, SortKey
from pgkeel.repo.registry import OPERATORS, Registry
from pgkeel.repo.repository import Repository
from pgkeel.repo.table import CustomFilter, Table

__all__ = [
    "COMPARABLE",
    "OPERATORS",
    "TEXTUAL",
    "Advice",
    "CountMode",
    "CursorCodec",
    "CustomFilter",
    "Field",
    "FieldType",
    "Filter",
    "ListQuery",
    "Page",
    "Registry",
    "Op",
    "Repository",
    "Search",
    "SortKey",
    "Table",
    "check_tables",
    "parse_list_params",
]
