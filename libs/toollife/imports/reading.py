"""The input file -> a pandas frame of strings with each row's exact line in the file.

Why pandas on the driver, not ``spark.read``: the input is a worksheet someone typed or exported
(hundreds to a few thousand rows), and the quarantine must name the exact line of a bad row and
keep the raw row as it was. Spark's CSV reader gives neither line numbers nor one error per row,
and it cannot read Excel. So the file is read here, every value kept as the string it was
(nothing inferred, nothing coerced silently), and only the typed result is landed with Spark.

Lines: CSV rows carry their physical line number (header = line 1; a quoted value spanning lines
counts from its first line; blank lines are skipped but counted); Excel rows their sheet row
number (first sheet); Parquet rows their position + 1 (there are no lines).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from toollife.errors import MissingInputError, UsageError

LINE = "_line"
FORMATS = (".csv", ".txt", ".parquet", ".xlsx")


def _bytes(path: str, config: Mapping[str, Any] | None) -> bytes:
    from toollife.lakehouse import storage

    if storage.is_object_store(path):
        if config is None:
            raise UsageError(f"{path}: an object-store path needs the conf's s3 settings")
        bucket, key = storage.bucket_and_key(path)
        try:
            with storage.arrow_filesystem(config).open_input_stream(f"{bucket}/{key}") as f:
                return f.read()
        except (OSError, FileNotFoundError) as exc:
            raise MissingInputError(f"cannot read {path}: {str(exc).splitlines()[0]}") from None
    p = Path(path.removeprefix("file:"))
    if not p.is_file():
        raise MissingInputError(f"no file {path}" + (" (it is a folder)" if p.is_dir() else ""))
    try:
        return p.read_bytes()
    except OSError as exc:
        raise MissingInputError(f"cannot read {path}: {exc.strerror or exc}") from None


def _csv(data: bytes, path: str) -> pd.DataFrame:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UsageError(f"cannot read {path}: not UTF-8 text (save it as CSV UTF-8)") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header, rows, lines = None, [], []
    try:
        start = 1
        for row in reader:
            line, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = [c.strip() for c in row]
                continue
            rows.append([c.strip() for c in row] + [""] * (len(header) - len(row)))
            lines.append(line)
    except csv.Error as exc:
        raise UsageError(f"cannot read {path}: line {reader.line_num}: {exc}") from None
    if header is None:
        raise UsageError(f"cannot read {path}: the file is empty (no header line)")
    width = len(header)
    frame = pd.DataFrame([r[:width] for r in rows], columns=header, dtype=object)
    extra = [i for i, r in enumerate(rows) if any(c for c in r[width:])]
    frame[LINE] = lines
    frame.attrs["too_long"] = [lines[i] for i in extra]   # rows with more cells than the header
    return frame


def _excel(data: bytes, path: str) -> pd.DataFrame:
    try:
        raw = pd.read_excel(io.BytesIO(data), header=None, dtype=str, engine="openpyxl")
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many types for a broken workbook
        raise UsageError(f"cannot read {path}: not an Excel .xlsx workbook ({type(exc).__name__})") from None
    raw = raw.fillna("")
    raw.index = raw.index + 1                                       # sheet row numbers
    keep = raw.apply(lambda r: any(str(c).strip() for c in r), axis=1)
    raw = raw[keep]
    if raw.empty:
        raise UsageError(f"cannot read {path}: the first sheet is empty")
    header = [str(c).strip() for c in raw.iloc[0]]
    body = raw.iloc[1:].apply(lambda col: col.map(lambda c: str(c).strip()))
    frame = pd.DataFrame(body.values, columns=header, dtype=object)
    frame[LINE] = list(body.index)
    return frame


def _parquet(data: bytes, path: str) -> pd.DataFrame:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001
        raise UsageError(f"cannot read {path}: not a Parquet file ({type(exc).__name__})") from None
    frame = table.to_pandas().astype(object)
    frame = frame.apply(lambda col: col.map(lambda c: "" if c is None or (isinstance(c, float) and c != c)
                                            else str(c).strip()))
    frame[LINE] = range(1, len(frame) + 1)
    return frame


def read_table(path: str, config: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Every value as a stripped string ('' = blank) plus the ``_line`` column."""
    suffix = Path(path.split("?")[0]).suffix.lower()
    if suffix not in FORMATS:
        raise UsageError(f"{path}: unknown file type '{suffix}'; use {', '.join(FORMATS)}")
    data = _bytes(path, config)
    if suffix == ".xlsx":
        return _excel(data, path)
    if suffix == ".parquet":
        return _parquet(data, path)
    return _csv(data, path)


def require_columns(frame: pd.DataFrame, wanted: list[str], path: str) -> None:
    """One line naming the missing column(s) and the columns there are."""
    have = [c for c in frame.columns if c != LINE]
    missing = [c for c in wanted if c not in have]
    if missing:
        raise UsageError(f"{path}: no column {', '.join(repr(m) for m in missing)}; "
                         f"the columns are: {', '.join(have)}")
