"""No SQL is built from user input: every statement comes from sql/ by name, values are bound.

A static check over the packages' code: no call to a query method gets an f-string, a `+` or a
`.format()` as its statement, and no SQL statement is written inline outside sql/.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("fidelia", "collector", "profiles", "recommender")
QUERY_METHODS = {"query", "command", "execute", "query_arrow", "query_df", "raw_query", "sql", "query_np"}
INLINE_SQL = re.compile(r"^\s*(SELECT\s.+\sFROM\s|INSERT INTO|ALTER TABLE|DELETE FROM|CREATE (TABLE|VIEW)"
                        r"|DROP TABLE|OPTIMIZE TABLE)", re.S)


# The cluster renderer rewrites the DDL of sql/migrations for a cluster (fidelia/cluster.py): its
# templates hold structure only, filled from the migrations and the cluster name, which
# FIDELIA_CLICKHOUSE_CLUSTER accepts only as an identifier; it runs no user input.
RENDERERS = {"fidelia/cluster.py"}


def sources() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def built(node: ast.AST) -> bool:
    if isinstance(node, ast.JoinedStr | ast.BinOp):
        return True
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format"


def test_no_statement_is_built_from_strings() -> None:
    found = []
    for path in sources():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in QUERY_METHODS and node.args and built(node.args[0])):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == []


def test_no_inline_sql_outside_the_sql_folder() -> None:
    found = []
    for path in sources():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if str(path.relative_to(ROOT)) in RENDERERS:
                break
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and INLINE_SQL.match(node.value):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value[:60]!r}")
    assert found == []
    assert len(sources()) > 30
