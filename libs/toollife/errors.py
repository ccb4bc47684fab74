"""What a user sees when something is wrong: one line naming the cause and the next step, and
an exit code, the same from the console script (``toollife ...``) and from every job.

Exit codes of ``toollife`` and of every ``jobs/*.py``:

====  ==========================================================================================
0     done
1     failed: a query, a Spark job or publishing failed, or a service (Kafka) cannot be reached
2     invalid arguments or configuration (a conf key, an environment variable, a job path)
3     missing input: a table the job reads does not exist yet; the message names the job that fills it
4     nothing could be analysed: input existed, but every part of it was skipped (the reasons are printed)
====  ==========================================================================================

A :class:`UserError` is an expected failure the user can fix; :func:`report` prints it as one
line (the traceback goes to the log at DEBUG) and returns its exit code. Anything else is a bug
or an infrastructure failure and keeps exit code 1.
"""

from __future__ import annotations

import logging
import sys
import traceback
from typing import Any, Mapping

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_MISSING_INPUT = 3
EXIT_NOTHING_ANALYSED = 4

log = logging.getLogger("toollife")


class UserError(Exception):
    """An expected failure the user can fix. The message names the cause and the next step."""

    exit_code = EXIT_FAILED
    label = "error"

    def __init__(self, message: str, *, metrics: Mapping[str, Any] | None = None):
        super().__init__(message)
        self.metrics = dict(metrics or {})


class UsageError(UserError):
    """Invalid arguments: an unknown option value, a job file that does not exist."""

    exit_code = EXIT_CONFIG


class MissingInputError(UserError):
    """A table the job reads does not exist yet."""

    exit_code = EXIT_MISSING_INPUT
    label = "missing input"


class NothingAnalysedError(UserError):
    """The input existed but nothing in it could be analysed; ``metrics`` still describe the run."""

    exit_code = EXIT_NOTHING_ANALYSED
    label = "nothing analysed"


class UnreachableError(UserError):
    """A service the command needs (a Kafka broker) does not answer."""


def one_line(text: str) -> str:
    """The first line of ``text`` (Java errors append stack traces after the first line)."""
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    return lines[0] if lines else ""


def report(prog: str, exc: BaseException, stream=None) -> int:
    """Print ``exc`` as the one line the user sees and return the exit code it stands for."""
    stream = sys.stderr if stream is None else stream
    log.debug("%s:\n%s", prog, "".join(traceback.format_exception(exc)))
    if isinstance(exc, UserError):
        print(f"{prog}: {exc.label}: {one_line(str(exc))}", file=stream, flush=True)
        return exc.exit_code
    print(f"{prog}: failed: {type(exc).__name__}: {one_line(str(exc))}", file=stream, flush=True)
    return EXIT_FAILED


def warn(prog: str, message: str, stream=None) -> None:
    """A one-line warning in the same form: the run goes on (or succeeds), but the user should know."""
    print(f"{prog}: warning: {message}", file=sys.stderr if stream is None else stream, flush=True)


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def check_log_level(level: str) -> str:
    """``level`` upper-cased, or a :class:`UsageError` naming the valid levels."""
    name = str(level).upper()
    if name not in LOG_LEVELS and name not in ("WARN", "FATAL"):
        raise UsageError(f"--log-level {level}: not a log level; use one of {', '.join(LOG_LEVELS)}")
    return name


def setup_logging(level: str = "INFO") -> None:
    """The toollife log on stderr at ``level``. py4j (a line per gateway connection) only from
    WARNING; Great Expectations from WARNING; kafka-python (lines per connection attempt, metadata
    update, retry) not at all: what matters reaches the user as our own line (``cannot reach Kafka
    at ...``, delivery errors). ``--log-level DEBUG`` shows them all."""
    logging.basicConfig(level=check_log_level(level), format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("py4j").setLevel(logging.WARNING)
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
        # Great Expectations logs its own internals at INFO: ~200 lines a validation run
        logging.getLogger("great_expectations").setLevel(logging.WARNING)
