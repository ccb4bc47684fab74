"""MLflow's routine chatter, kept off the terminal: what a training or scoring run prints is its
own step lines and its summary. Each filter names one message; ``--log-level DEBUG`` keeps them.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings

log = logging.getLogger("toollife.ml")


@contextlib.contextmanager
def integer_columns_hint_off():
    """MLflow's "Inferred schema contains integer column(s)" hint, printed for every dataset and
    every logged model (~30 a training): the features' integer columns (run key, counts) are
    never missing, so the hint never applies here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*integer column", category=UserWarning)
        yield


@contextlib.contextmanager
def registry_prints_to_debug():
    """The model registry prints "Successfully registered model ...", "Created version ..." on
    stderr for every version; they go to the log at DEBUG: training.promote says what became of each."""
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stderr(buffer):
            yield
    finally:
        if buffer.getvalue().strip():
            log.debug("MLflow: %s", " / ".join(buffer.getvalue().split("\n")).strip(" /"))


class _DropMessage(logging.Filter):
    def __init__(self, prefix: str):
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefix)


LOCAL_ENV_NOTICE = 'Calling `spark_udf()` with `env_manager="local"`'


def spark_udf_notices_off() -> None:
    """``mlflow.pyfunc.spark_udf(env_manager="local")`` warns on every call that it does not
    recreate the training environment (the executors run this venv, the one the requirements were
    pinned from: training.pip_requirements), and logs the backend it chose at INFO. Both off;
    a real mismatch of the model's requirements is still warned about. Idempotent."""
    if logging.getLogger().getEffectiveLevel() <= logging.DEBUG:
        return
    pyfunc = logging.getLogger("mlflow.pyfunc")
    if not any(isinstance(f, _DropMessage) for f in pyfunc.filters):
        pyfunc.addFilter(_DropMessage(LOCAL_ENV_NOTICE))
    logging.getLogger("mlflow.models.flavor_backend_registry").setLevel(logging.WARNING)
