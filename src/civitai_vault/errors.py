"""One place that turns any error a user can meet into one line and an exit code.

Exit codes: 2 for bad usage or input (a wrong URL or id, a bad option), 1 for
failures (the server, the network, the disk). Messages never carry
credentials: API errors are built without them, and OS errors name only paths.
"""

from __future__ import annotations

import errno
import sqlite3


class UsageError(ValueError):
    """The user asked for something that cannot be done as asked (exit 2)."""


class ArchiveError(Exception):
    """The archive cannot be used as asked; the message says why and what to do (exit 1)."""


class Failure(Exception):
    """Something was tried and did not work; the message says what to do (exit 1)."""


class OutputError(Failure):
    """A file the user asked for (-o, --html) could not be written: names that file (exit 1)."""

    def __init__(self, path: object, exc: OSError, flag: str = "-o") -> None:
        reason = exc.strerror or str(exc)
        if exc.errno == errno.ENOSPC:
            advice = "free some space, or choose another place with " + flag
        else:
            advice = f"choose a folder you can write to with {flag}"
        super().__init__(f"cannot write {path}: {reason}; {advice}")


class TargetError(Failure):
    """A target was looked up and cannot be archived (no such user, no login): exit 1."""


def describe_error(exc: BaseException) -> tuple[str, int]:
    from civitai_vault.api.errors import CivitaiError

    if isinstance(exc, CivitaiError | ArchiveError | Failure):
        return str(exc), 1
    if isinstance(exc, UnicodeError):
        # Text that cannot be encoded came from Civitai or a file, not from the command line.
        reason = getattr(exc, "reason", None) or exc
        return f"text that cannot be written as UTF-8 ({reason}); please report it", 1
    if isinstance(exc, UsageError | ValueError):
        return str(exc), 2
    if isinstance(exc, FileNotFoundError):
        return str(exc), 1
    if isinstance(exc, OSError):
        return _describe_os_error(exc), 1
    if isinstance(exc, sqlite3.DatabaseError):
        return _describe_database_error(exc), 1
    return f"unexpected {type(exc).__name__}: {exc}", 1


def _describe_database_error(exc: sqlite3.DatabaseError) -> str:
    # SQLite reports a full disk or a read-only archive as its own error codes,
    # not as OSError: say the same thing as for the files.
    code = getattr(exc, "sqlite_errorcode", None)
    if code == sqlite3.SQLITE_FULL:
        return _describe_os_error(OSError(errno.ENOSPC, "No space left on device"))
    if code in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM):
        return _describe_os_error(OSError(errno.EROFS, "Read-only file system"))
    return (
        f"the archive database could not be used ({exc}); if another civitai-vault is "
        "running on it, wait for it to finish, then run this again"
    )


def _describe_os_error(exc: OSError) -> str:
    where = f" ({exc.filename})" if exc.filename else ""
    if exc.errno == errno.ENOSPC:
        return (
            f"the disk is full{where}; nothing was lost: free some space and run the same "
            "command again to continue"
        )
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return (
            f"cannot write to the archive{where}: it is read-only or not yours; choose a "
            "writable --archive folder"
        )
    return f"{exc.strerror or exc}{where}"
