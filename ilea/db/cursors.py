"""Page cursors: the sort key of a page's last row, opaque to clients (``/v1/proposals``,
``/v1/tasks``, ``/v1/instructor-requests``)."""

from __future__ import annotations

import base64
from datetime import datetime

#: What every malformed cursor is told (the API answers it as a 422 on ``cursor``).
NOT_OURS = "cursor is not one this server returned"


def pack(*parts: str) -> str:
    """A cursor holding ``parts`` (the last may contain ``|``)."""
    return base64.urlsafe_b64encode("|".join(parts).encode()).decode()


def unpack(cursor: str, n: int) -> list[str]:
    """The n parts of a cursor :func:`pack` made; ValueError otherwise."""
    try:
        parts = base64.urlsafe_b64decode(cursor.encode()).decode().split("|", n - 1)
    except Exception as err:
        raise ValueError(NOT_OURS) from err
    if len(parts) != n:
        raise ValueError(NOT_OURS)
    return parts


def time_key(at: datetime, row_id: str) -> str:
    """The cursor after a row of a list ordered by a time, then an id."""
    return pack(at.isoformat(), row_id)


def time_key_of(cursor: str) -> tuple[datetime, str]:
    """The ``(time, id)`` of a :func:`time_key` cursor; ValueError for one this server did not make."""
    at, row_id = unpack(cursor, 2)
    try:
        return datetime.fromisoformat(at), row_id
    except ValueError as err:
        raise ValueError(NOT_OURS) from err
