"""Arrow batches of whole combinations, shared by the gold DOE jobs (doe_effects, next_experiments).

The JVM gathers each combination's runs into one row (its keys and an array of run structs);
``mapInArrow`` hands the Python workers Arrow batches of such rows. :func:`unpack_runs` turns a
batch into one pandas frame of runs plus the combination index of each run, :func:`to_arrow` the
pandas result back into Arrow. The key strings stay Arrow arrays end to end: only numeric columns
become numpy arrays, and the key columns of the output are Arrow ``take``\ s of the input.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd


def unpack_runs(batch, runs_column: str, key_columns: Sequence[str], per_combination: Sequence[str] = (),
                ) -> tuple[np.ndarray, Any, pd.DataFrame]:
    """One Arrow batch of gathered combinations -> (combination index per run, Arrow table of the
    key columns, pandas frame of the runs, with the ``per_combination`` columns repeated onto
    their runs). The key strings never become Python objects."""
    import pyarrow as pa
    import pyarrow.compute as pc

    table = pa.Table.from_batches([batch])
    lists = table.column(runs_column).combine_chunks()
    lengths = pc.list_value_length(lists).to_numpy(zero_copy_only=False)
    gid = np.repeat(np.arange(table.num_rows, dtype=np.int64), lengths)
    runs = lists.flatten()                              # StructArray of all runs, offsets applied
    frame = pd.DataFrame({field.name: child.to_numpy(zero_copy_only=False)   # nulls -> NaN
                          for field, child in zip(runs.type, runs.flatten())})
    for c in per_combination:
        frame[c] = table.column(c).to_numpy(zero_copy_only=False)[gid]
    return gid, table.select(list(key_columns)), frame

def to_arrow(res: pd.DataFrame, keys, schema):
    """pandas result with a ``_key`` column (the combination's row in ``keys``) -> Arrow table
    shaped like the Spark ``schema``; the schema's columns that ``keys`` has are taken from it."""
    import pyarrow as pa

    k = pa.array(res["_key"].to_numpy(np.int64)) if len(res) else pa.array([], pa.int64())
    arrays = []
    for f in schema.fields:
        if f.name in keys.column_names:
            arrays.append(keys.column(f.name).take(k))
            continue
        col = res[f.name] if f.name in res.columns else pd.Series([None] * len(res), dtype=object)
        t = f.dataType.typeName()
        if t == "double":
            arrays.append(pa.array(pd.to_numeric(col, errors="coerce").to_numpy(float), pa.float64(), from_pandas=True))
        elif t == "long":
            arrays.append(pa.array(pd.array(col, dtype="Int64"), pa.int64()))
        elif t == "boolean":
            arrays.append(pa.array(col.to_numpy(), pa.bool_(), from_pandas=True))
        else:
            arrays.append(_string_array(col))
    return pa.Table.from_arrays(arrays, names=[f.name for f in schema.fields])

def _string_array(col: pd.Series):
    """A string column with few distinct labels (term, method, aliases, ...) as an Arrow string
    array: the labels are converted once and expanded in Arrow C++, not per row in Python."""
    import pyarrow as pa

    codes, labels = pd.factorize(col, use_na_sentinel=True)
    dictionary = pa.array(np.asarray(labels, dtype=object), pa.string(), from_pandas=True)
    indices = pa.array(codes, pa.int32(), mask=codes < 0)
    return pa.DictionaryArray.from_arrays(indices, dictionary).cast(pa.string())

class arrow_batch_size:
    """Context manager: spark.sql.execution.arrow.maxRecordsPerBatch = ``rows``, restored after.

    Each Arrow batch the map function receives is one vectorised call, so this is the number
    of combinations analysed together (``doe.combinations_per_batch``).
    """

    KEY = "spark.sql.execution.arrow.maxRecordsPerBatch"

    def __init__(self, spark, rows: int):
        self.spark, self.rows = spark, int(rows)

    def __enter__(self):
        self.old = self.spark.conf.get(self.KEY, None)
        self.spark.conf.set(self.KEY, str(self.rows))
        return self

    def __exit__(self, *exc):
        if self.old is None:
            self.spark.conf.unset(self.KEY)
        else:
            self.spark.conf.set(self.KEY, self.old)
        return False
