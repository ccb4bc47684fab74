"""Spark SQL text made from names and values: an identifier stays one identifier, a string one
string literal, whatever characters they hold. Pure (no pyspark)."""

from __future__ import annotations

from typing import Any


def quote_identifier(name: str) -> str:
    """``name`` as one Spark SQL identifier (a column, a struct field): backticks, inner ones doubled."""
    return "`" + str(name).replace("`", "``") + "`"


def sql_literal(value: Any) -> str:
    """A Spark SQL literal: a string quoted with its backslashes and quotes escaped, else ``repr``."""
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return repr(value)
