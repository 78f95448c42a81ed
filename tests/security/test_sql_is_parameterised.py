"""SQL is only ever parameterised: a scan of the code for SQL text built from values.

Every f-string, `%` or `.format()` or `+` that builds SQL text may only splice in the
names reviewed below (identifiers and `?` placeholders the code itself spells); values
always travel as parameters. A new splice fails this test until it is reviewed here.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CODE = ("services", "shared", "tools", "deploy", "reelsmith_cli")
SQL = re.compile(
    r"\b(SELECT|INSERT|UPDATE|DELETE|WHERE|VALUES|CREATE|PRAGMA|ORDER BY|SET)\b|=\s*\?(?!\w)"
)
# Names that hold SQL made by the code, never by a request (reviewed):
REVIEWED = {
    "NOW_SQL": "shared.db: the strftime expression for the current time",
    "marks": "'?, ?, ...' placeholders, one per value",
    "placeholders": "'?, ?, ...' placeholders, one per value",
    "assignments": "jobs.store._update: 'column = ?' for keyword names the code passes",
    "_SELECT": "stage_requests: a constant SELECT",
    "_PAUSE_SQL": "jobs.store: the constant SELECT of paused_jobs",
    "COLUMNS": "assets.store: the constant column list",
    "sums": "billing.ledger: constant aggregate expressions",
    "where": "constant conditions with '?' placeholders (jobs, billing)",
    "table": "db.migrate: a table name matched by a regex in our own migration files",
    "column": "jobs.store.page: a column name from a constant tuple",
    "name": "jobs.store._update: a keyword argument name",
}


def _spliced_ok(node: ast.expr) -> bool:
    """Whether `node`, spliced into SQL text, is a reviewed identifier or placeholder."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Name):
        return node.id in REVIEWED
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        return any(isinstance(s, ast.Constant) and s.value == "?" for s in (node.left, node.right))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _spliced_ok(node.left) and _spliced_ok(node.right)
    if isinstance(node, ast.JoinedStr):
        return all(_spliced_ok(v.value) for v in node.values if isinstance(v, ast.FormattedValue))
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "join"
        and isinstance(node.func.value, ast.Constant)
        and len(node.args) == 1
    ):
        arg = node.args[0]
        if isinstance(arg, ast.GeneratorExp | ast.ListComp):
            return _spliced_ok(arg.elt)
        return _spliced_ok(arg)
    return False


def _sql_text(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and bool(SQL.search(node.value))
    )


def _splices(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, expression) of every value spliced into SQL-looking text."""
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
            if SQL.search(text):
                for value in node.values:
                    if isinstance(value, ast.FormattedValue) and not _spliced_ok(value.value):
                        yield node.lineno, ast.unparse(value.value)
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
            if _sql_text(node.left):
                yield node.lineno, ast.unparse(node)
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            sides = (node.left, node.right)
            if any(_sql_text(s) for s in sides) and not all(_spliced_ok(s) for s in sides):
                yield node.lineno, ast.unparse(node)
        elif isinstance(node, ast.AugAssign) and isinstance(node.op, ast.Add):
            value = node.value
            sql = _sql_text(value) or (isinstance(value, ast.BinOp) and _sql_text(value.left))
            if sql and not _spliced_ok(value):
                yield node.lineno, ast.unparse(node)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "format"
            and _sql_text(node.func.value)
        ):
            yield node.lineno, ast.unparse(node)


def test_no_sql_is_built_from_values() -> None:
    found = []
    for folder in CODE:
        for path in sorted((REPO / folder).rglob("*.py")):
            if ".venv" in path.parts:
                continue
            for line, expression in _splices(ast.parse(path.read_text(), str(path))):
                found.append(f"{path.relative_to(REPO)}:{line}: {expression}")
    assert found == [], "SQL built from unreviewed values (use ? parameters):\n" + "\n".join(found)


def test_the_scan_catches_values_spliced_into_sql() -> None:
    # The scanner itself: each of these is the mistake it exists to find.
    bad = [
        'db.execute(f"SELECT * FROM jobs WHERE id = {job_id}")',
        "db.execute(\"SELECT * FROM jobs WHERE id = '%s'\" % job_id)",
        "db.execute(\"SELECT * FROM jobs WHERE id = '{}'\".format(job_id))",
        'db.execute("SELECT * FROM jobs WHERE id = \'" + job_id + "\'")',
        "sql = 'SELECT * FROM jobs'\nsql += ' WHERE id = ' + job_id",
    ]
    for source in bad:
        assert list(_splices(ast.parse(source))), source
    good = [
        'db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,))',
        'db.execute(f"UPDATE jobs SET updated_at = {NOW_SQL} WHERE id = ?", (job_id,))',
        "db.execute(f\"DELETE FROM t WHERE id IN ({','.join('?' * len(ids))})\", ids)",
    ]
    for source in good:
        assert not list(_splices(ast.parse(source))), source
