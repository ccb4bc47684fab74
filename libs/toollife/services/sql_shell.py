"""`toollife sql`: Spark SQL over every lakehouse table, from the command line.

    toollife sql "select * from gold.doe_effects limit 5"
    toollife sql -f queries.sql              # the statements of a file, separated by ;
    toollife sql                             # a prompt (statements end with ;), or a script on stdin
    toollife sql --format csv "select ..."   # csv for scripts (default: a plain table)

The session is the one factory's (:func:`toollife.runtime.session.get_spark`), in this process:
Delta, conf's catalog and every table on disk registered as ``<layer>.<table>``, the four layer
schemas created (``show tables in gold`` answers on an empty lakehouse), exactly as ``toollife
thrift`` serves them. No ``spark-sql`` binary (it needs SPARK_HOME) and nothing in the working
directory: the warehouse is under the lakehouse root, Derby's files under ``spark.catalog_dir``.

Output: the rows on stdout, ``(N rows)`` on stderr; Spark logs at ``spark.log_level`` only.
A statement that fails is one line, ``toollife sql: error: [ERROR_CLASS] message``, and exit 1
(a failed query, as everywhere in toollife.errors); a table that does not exist yet, named in
:data:`toollife.lakehouse.reader.FILLED_BY`, is a missing input (exit 3) naming the job that
fills it. At the prompt an error is printed and the prompt goes on.
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import sys
from pathlib import Path
from typing import Any, Iterable, Sequence

from toollife.errors import MissingInputError, UsageError, UserError, one_line, report

APP_NAME = "toollife-sql"
PROMPT, MORE = "toollife-sql> ", "          ...> "


class SqlError(UserError):
    """A statement Spark rejected or could not run (exit 1)."""


# --------------------------------------------------------------------------- pure: text in, text out
def split_statements(text: str) -> list[str]:
    """The statements of ``text``, split at ``;`` outside quotes ('...', "...", `...`) and
    comments (``-- ...`` to the end of the line, ``/* ... */``); empty ones dropped."""
    out, buf, i, quote = [], [], 0, None
    while i < len(text):
        ch = text[i]
        if quote:
            buf.append(ch)
            if ch == "\\" and quote != "`" and i + 1 < len(text):
                buf.append(text[i + 1])
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "'\"`":
            quote = ch
            buf.append(ch)
        elif text.startswith("--", i):
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
            continue
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = len(text) if end < 0 else end + 2
            buf.append(" ")
            continue
        elif ch == ";":
            out.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
        i += 1
    out.append("".join(buf))
    return [s.strip() for s in out if s.strip()]


def complete(text: str) -> bool:
    """True when ``text`` ends a statement (a ``;`` outside quotes and comments): the prompt runs it."""
    stripped = text.rstrip()
    if not stripped:
        return False
    marker = "\u0000"
    return split_statements(stripped + marker)[-1:] == [marker]


def cell(value: Any) -> str:
    """A value as the table shows it: NULL for null, lists and maps as Spark SQL prints them."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(cell(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{cell(k)} -> {cell(v)}" for k, v in value.items()) + "}"
    if hasattr(value, "asDict"):        # a struct (pyspark Row)
        return "{" + ", ".join(f"{k}: {cell(v)}" for k, v in value.asDict().items()) + "}"
    return str(value)


def format_table(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A plain table: a header, a rule, one line per row; numbers right-aligned."""
    rows = [list(r) for r in rows]
    text = [[cell(v) for v in r] for r in rows]
    widths = [max([len(c), *(len(r[i]) for r in text)]) for i, c in enumerate(columns)]
    numeric = [bool(rows) and all(isinstance(r[i], (int, float)) and not isinstance(r[i], bool) or r[i] is None
                                  for r in rows) for i in range(len(columns))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip(),
             "-+-".join("-" * w for w in widths)]
    for r in text:
        lines.append(" | ".join(v.rjust(w) if num else v.ljust(w)
                                for v, w, num in zip(r, widths, numeric)).rstrip())
    return "\n".join(lines)


def format_csv(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for r in rows:
        writer.writerow(["" if v is None else cell(v) for v in r])
    return buf.getvalue().rstrip("\n")


NOT_FOUND = re.compile(r"`?([A-Za-z_][\w]*)`?\.`?([A-Za-z_][\w]*)`? cannot be found")


def sql_error(exc: Exception, config: Any) -> UserError:
    """Spark's exception as the user's one line: ``[ERROR_CLASS] message`` (exit 1), or for a
    lakehouse table that does not exist yet, the job that fills it (exit 3)."""
    from toollife.lakehouse.reader import FILLED_BY

    get = getattr(exc, "getCondition", None) or getattr(exc, "getErrorClass", None)
    error_class = None
    try:
        error_class = get() if get else None
    except Exception:  # noqa: BLE001 - a JVM that went away: the message still says enough
        pass
    java = getattr(exc, "java_exception", None)     # a Py4JJavaError pyspark did not convert: the Java message
    text = exc.getMessage() if hasattr(exc, "getMessage") else str(java.getMessage()) if java is not None else str(exc)
    message = one_line(text)
    message = re.sub(r"\s*SQLSTATE: \w+;?", "", message)
    found = NOT_FOUND.search(message)
    if error_class == "TABLE_OR_VIEW_NOT_FOUND" and found:
        qualified = f"{found[1]}.{found[2]}"
        if qualified in FILLED_BY:
            job = FILLED_BY[qualified]
            step = f"run `toollife submit {job.split()[0]}` first" if job.startswith("jobs/") else "run it first"
            return MissingInputError(f"no table {qualified} under {config['lakehouse']['root']} (lakehouse.root) "
                                     f"yet; it is filled by {job}: {step}")
    if error_class and not message.startswith(f"[{error_class}]"):
        message = f"[{error_class}] {message}"
    return SqlError(message or type(exc).__name__)


# --------------------------------------------------------------------------- the command
def add_arguments(parser: argparse.ArgumentParser, env: str | None = None) -> None:
    parser.add_argument("statement", nargs="?", default=None,
                        help="SQL to run (several separated by ;); none: -f FILE, a script on stdin, or a prompt")
    parser.add_argument("-f", "--file", default=None, help="run the statements of this file")
    parser.add_argument("--format", choices=["table", "csv"], default="table",
                        help="rows as a plain table (default) or as CSV with a header")
    parser.add_argument("--max-rows", type=int, default=1000, metavar="N",
                        help="print at most N rows of a result (default: 1000; 0 = all)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one conf value, e.g. lakehouse.root=/data/lakehouse (repeatable)")


def statements_from(args: argparse.Namespace) -> list[str] | None:
    """The statements to run, or None for the interactive prompt."""
    if args.statement is not None and args.file:
        raise UsageError("give a statement or -f FILE, not both")
    if args.file:
        path = Path(args.file)
        if not path.is_file():
            raise UsageError(f"-f {args.file}: no such file")
        text = path.read_text()
    elif args.statement is not None:
        text = args.statement
    elif sys.stdin.isatty():
        return None
    else:
        text = sys.stdin.read()
    found = split_statements(text)
    if not found:
        raise UsageError("no SQL statement given (an empty statement or file)")
    return found


def run(args: argparse.Namespace) -> int:
    from toollife.config import job_config
    from toollife.runtime.spark_conf import catalog_dir

    if args.max_rows < 0:
        raise UsageError(f"--max-rows {args.max_rows}: must be 0 (all) or more")
    config = job_config(args.env, None, args.overrides)
    statements = statements_from(args)     # mistakes before the JVM
    if catalog_dir(config) is not None:
        catalog_dir(config).mkdir(parents=True, exist_ok=True)
    if str(getattr(args, "log_level", "INFO")).upper() != "DEBUG":
        quiet_query_errors()
    spark = session(config)
    try:
        if statements is None:
            return prompt(spark, config, args)
        for statement in statements:
            execute(spark, config, statement, args)
        return 0
    finally:
        spark.stop()


def quiet_query_errors() -> None:
    """pyspark logs every failed query's message and Java stack trace (~80 lines of JSON) from its
    query-context loggers before raising; the error is reported here in one line instead."""
    import logging

    from pyspark.logger import PySparkLogger

    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):   # made as pyspark makes them
        PySparkLogger.getLogger(name).setLevel(logging.CRITICAL)


def session(config: Any):
    """The factory's session with the four layer schemas, as ``toollife thrift`` serves it."""
    from toollife.lakehouse import tables
    from toollife.runtime.session import get_spark

    spark = get_spark(config, app_name=APP_NAME)   # registers every table on disk
    for layer in tables.LAYERS:
        tables.ensure_schema(spark, layer)
    return spark


def execute(spark: Any, config: Any, statement: str, args: argparse.Namespace, out=None) -> None:
    """Run one statement and print its rows (a statement without rows prints nothing)."""
    from pyspark.errors import PySparkException
    from py4j.protocol import Py4JJavaError

    out = sys.stdout if out is None else out
    try:
        df = spark.sql(statement)
        limit = args.max_rows or None
        rows = df.limit(limit + 1).collect() if limit else df.collect()
    except (PySparkException, Py4JJavaError) as exc:
        raise sql_error(exc, config) from exc
    columns = df.columns
    if not columns:
        return
    more = limit is not None and len(rows) > limit
    rows = rows[:limit] if more else rows
    text = format_csv(columns, rows) if args.format == "csv" else format_table(columns, rows)
    print(text, file=out, flush=True)
    if args.format == "table":
        noun = "row" if len(rows) == 1 else "rows"
        print(f"(first {len(rows)} {noun}; --max-rows 0 shows all)" if more else f"({len(rows)} {noun})",
              file=sys.stderr, flush=True)


def prompt(spark: Any, config: Any, args: argparse.Namespace) -> int:
    """Read statements at a prompt until EOF (Ctrl-D), ``exit`` or ``quit``; an error is one line."""
    try:
        import readline  # noqa: F401 - line editing and history for input()
    except ImportError:  # pragma: no cover - not on every platform
        pass
    print(f"toollife sql over {config['lakehouse']['root']}: statements end with ;  "
          "(`show tables in gold`; exit or Ctrl-D ends)", file=sys.stderr)
    buf = ""
    while True:
        try:
            line = input(MORE if buf else PROMPT)
        except EOFError:
            print(file=sys.stderr)
            return 0
        except KeyboardInterrupt:   # Ctrl-C drops the statement being typed, as in other SQL shells
            print(file=sys.stderr)
            buf = ""
            continue
        if not buf and line.strip().rstrip(";").lower() in ("exit", "quit"):
            return 0
        buf = f"{buf}\n{line}" if buf else line
        if not complete(buf):
            continue
        for statement in split_statements(buf):
            try:
                execute(spark, config, statement, args)
            except UserError as exc:
                report("toollife sql", exc)
        buf = ""
