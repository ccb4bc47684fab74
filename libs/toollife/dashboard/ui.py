"""Streamlit helpers the pages share: the config, cached table reads, messages, figures.

Configuration is read like every other entry point reads it (:func:`toollife.config.load_config`:
``TOOLLIFE_ENV``, ``TOOLLIFE_CONF_DIR``, ``TOOLLIFE__SECTION__KEY`` variables), which is how
``toollife dashboard`` hands its ``--env`` and ``--set`` options to the app.

Reads are cached per table *and Delta version*: every rerun asks delta-rs for the current
version (one small log read), and only a new version reads the data again, so the pages are
never stale and never re-read an unchanged table.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator, Mapping, Sequence

import streamlit as st

from toollife.config import ConfigError, load_config
from toollife.lakehouse import reader


def config() -> dict[str, Any]:
    """The merged configuration; a bad conf stops the page with one line saying why."""
    try:
        return load_config()
    except ConfigError as exc:
        st.error(f"configuration error: {exc}")
        st.stop()


@st.cache_data(show_spinner=False, max_entries=128)
def _read_version(config: Mapping[str, Any], qualified: str, version: int, columns: tuple[str, ...] | None,
                  filters: tuple[tuple[str, str, Any], ...] | None) -> reader.TableRead:
    return reader.read(config, qualified, columns=columns, filters=filters, as_of=version)


def read(config: Mapping[str, Any], qualified: str, *, columns: Sequence[str] | None = None,
         filters: Sequence[tuple[str, str, Any]] | None = None) -> reader.TableRead:
    """:func:`toollife.lakehouse.reader.read`, cached by the table's Delta version. A table that
    cannot be read (a broken log, no permission) comes back with status 'unreadable' and why."""
    try:
        version = reader.version(config, qualified)
        if version is None:
            return reader.TableRead(qualified, reader.path(config, qualified), reader.MISSING)
        return _read_version(dict(config), qualified, version, tuple(columns) if columns is not None else None,
                             tuple(tuple(f) for f in filters) if filters else None)
    except Exception as exc:  # noqa: BLE001 - shown as one line by available()
        return reader.TableRead(qualified, reader.path(config, qualified), reader.UNREADABLE,
                                error=f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")


@st.cache_data(show_spinner=False, max_entries=32)
def _changes_version(config: Mapping[str, Any], qualified: str, version: int,
                     columns: tuple[str, ...] | None) -> reader.TableRead:
    return reader.read_changes(config, qualified, columns=columns)


def read_changes(config: Mapping[str, Any], qualified: str, *,
                 columns: Sequence[str] | None = None) -> reader.TableRead:
    """:func:`toollife.lakehouse.reader.read_changes` (the table's history), cached by its version."""
    version = reader.version(config, qualified)
    if version is None:
        return reader.TableRead(qualified, reader.path(config, qualified), reader.MISSING)
    return _changes_version(dict(config), qualified, version, tuple(columns) if columns is not None else None)


def available(result: reader.TableRead, scope: str | None = None) -> bool:
    """True if the read has rows; otherwise show which job fills the table and return False
    (``scope`` names the rows a filtered read asked for)."""
    if result.ok:
        return True
    if result.status == reader.UNREADABLE:
        st.error(result.message())
    else:
        st.info(result.message(scope), icon=":material/info:")
    return False


@contextlib.contextmanager
def section(title: str | None = None) -> Iterator[None]:
    """A page section whose failure shows one line instead of a traceback, and lets the rest of
    the page render."""
    if title:
        st.subheader(title)
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - the dashboard's boundary: a short message, never a traceback
        st.error(f"{title or 'This section'} could not be shown: {type(exc).__name__}: {exc}")


@st.cache_data(show_spinner=False, max_entries=256)
def _png(plot: str, args: tuple, kwargs: dict, dpi: int) -> bytes:
    import io

    from toollife.doe import plots

    fig = getattr(plots, plot)(*args, **kwargs)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def figure(plot: str, *args, dpi: int = 150, **kwargs) -> None:
    """Show ``toollife.doe.plots.<plot>(*args, **kwargs)`` (a ``*_figure`` function) as an image.

    The PNG is cached by the plot's inputs, so a rerun that changes one selection redraws only
    the figures whose data changed.
    """
    st.image(_png(plot, args, kwargs, dpi))


def sidebar(config: Mapping[str, Any]) -> None:
    with st.sidebar:
        st.caption(f"env `{config['env']}` · lakehouse `{config['lakehouse']['root']}`")
        if st.button("Reload tables", help="read every table again, even if its Delta version did not change"):
            _read_version.clear()
