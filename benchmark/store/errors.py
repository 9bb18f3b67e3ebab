"""Database errors -> one line naming the store, never its password.

:func:`display_url` hides a URL's password; :func:`guard` turns what a driver raises into a
one-line :class:`BnnBenchError` (``cannot <doing> results store 'URL': <driver message>``),
and damage (SQLITE_CORRUPT, SQLITE_NOTADB) into the damaged-store message of
:func:`damaged`. docs/results.md ("Integrity, read-only access and locking") quotes them.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmark.errors import BnnBenchError

# SQLAlchemy is imported where it is used: :mod:`benchmark.store.summary_read` (``show``)
# uses this module's messages without it

# ``scheme://user:secret@`` in text that is not a parseable URL (so render_as_string cannot help)
_PASSWORD_IN_URL = re.compile(r"(://[^:/@\s]*:)[^@]*@")
# ``?password=secret`` / ``&sslpassword=secret``: libpq's query parameters (psycopg passes them on)
_PASSWORD_PARAMETER = re.compile(r"([?&][A-Za-z_]*password=)[^&\s]*", re.IGNORECASE)
# a whole URL's ``scheme://user:secret@``, the secret running to the *last* '@' before the
# query: an unquoted '@' in a password must not leave its tail visible (``u:***@tail@host``)
_URL_CREDENTIALS = re.compile(r"^([\w+.-]+://[^:/@?]*:)[^?]*@(?=[^@?]*(?:\?|$))")


def mask(text: str) -> str:
    """``text`` with the password of any ``scheme://user:secret@`` in it, and the value of any
    ``password=`` query parameter, replaced by ``***``."""
    return _PASSWORD_PARAMETER.sub(r"\1***", _PASSWORD_IN_URL.sub(r"\1***@", text))


def display_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (the one after ``user:`` and that of a
    ``password=`` query parameter): safe for messages, logs and reports."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    url = _URL_CREDENTIALS.sub(r"\1***@", url, count=1)
    try:
        parsed = make_url(url)
        hidden = {k: "***" for k in parsed.query if "password" in k.lower()}
        if hidden:
            parsed = parsed.update_query_dict(hidden)
        return parsed.render_as_string(hide_password=True).replace("=%2A%2A%2A", "=***")
    except (ArgumentError, ValueError):
        if "://" not in url and "@" in url:  # ``scheme//user:secret@host``? all before the '@'
            return "***@" + url.rpartition("@")[2]
        return mask(url)


def line(text: object, limit: int = 200) -> str:
    """``text`` on one line (whitespace collapsed), cut to ``limit`` characters: driver messages
    can span lines (quick_check's do), and the CLI promises one-line errors."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def one_line(exc: BaseException) -> str:
    """The driver's own message (not SQLAlchemy's, which appends the SQL), first line only."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return line(text.splitlines()[0] if text else type(exc).__name__)


def sqlite_errorname(exc: BaseException) -> str:
    """sqlite's error name (``SQLITE_CORRUPT``, ...) behind ``exc``; "" when it has none."""
    return str(getattr(getattr(exc, "orig", None) or exc, "sqlite_errorname", "") or "")


def damage(exc: BaseException) -> str | None:
    """sqlite's message when ``exc`` says the file is damaged or not a database, else None.

    Only SQLITE_CORRUPT and SQLITE_NOTADB count: "locked" or "unable to open" are not damage,
    and telling a user to move a healthy store aside would be harmful advice.
    """
    orig = getattr(exc, "orig", None) or exc
    if not isinstance(orig, sqlite3.Error):
        return None
    name = sqlite_errorname(exc)
    text = str(orig)
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or (
        not name and ("malformed" in text or "not a database" in text)
    ):
        return line(text, 120)
    return None


def damaged(display: str, path: Path | None, problem: str) -> BnnBenchError:
    """The error for a damaged store ``display`` (SQLite file ``path``): what to do about it."""
    # the -wal file may hold committed data: whoever tries to salvage the file needs both
    where = f"{path} (and its -wal/-shm files if present)" if path else "it"
    return BnnBenchError(
        f"results store '{display}' is damaged (sqlite reports: {problem}); "
        f"move {where} aside and rerun the suite to recompute its runs, or restore a backup"
    )


@contextmanager
def guard(
    display: str, doing: str, *, path: Path | None = None, opening: bool = False
) -> Iterator[None]:
    """Turn database errors into one-line :class:`BnnBenchError` naming the store ``display``.

    ``doing`` completes "cannot ... results store": "open", "read runs from", ... Damage
    found on the way (SQLITE_CORRUPT, SQLITE_NOTADB) gets the damaged-store message (naming
    the SQLite file ``path``). Missing drivers and unusable URLs are translated only while
    ``opening``.
    """
    from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

    try:
        yield
    except BnnBenchError:
        raise
    except DBAPIError as exc:
        problem = damage(exc)
        if problem is not None:
            raise damaged(display, path, problem) from None
        raise BnnBenchError(f"cannot {doing} results store '{display}': {one_line(exc)}") from None
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        if not opening:
            raise
        raise BnnBenchError(
            f"cannot {doing} results store '{display}': no driver for it ({line(exc)})"
        ) from None
    except ArgumentError as exc:
        if not opening:
            raise
        raise BnnBenchError(f"store URL '{display}' is not usable: {one_line(exc)}") from None
