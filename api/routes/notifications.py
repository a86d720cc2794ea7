"""A person's notifications: those of the parties they act for (an auditor: all), read per person."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.auth import Principal
from api.deps import CurrentUser, Db, KnownNotification, SettingsDep
from api.errors import NotFound
from api.schemas import Notification, Notifications
from ilea.db import notifications
from ilea.domain import Party, Role, parties_for
from ilea.settings import Settings

router = APIRouter(prefix="/v1/notifications", tags=["notifications"])


def readable_parties(user: Principal) -> list[Party] | None:
    """The parties whose notifications the caller reads; None for every party (an auditor)."""
    return None if user.has(Role.auditor) else parties_for(user.agency, user.roles, sub=user.sub)


def _out(row: dict[str, Any], settings: Settings) -> dict[str, Any]:
    status = row.pop("email_status")
    if status in ("sent", "failed"):
        row["email"] = status
    else:  # pending or sending
        row["email"] = "queued" if settings.smtp_host else "not_configured"
    return row


@router.get("", response_model=Notifications, summary="Your notifications, newest first")
async def list_notifications(
    user: CurrentUser,
    db: Db,
    settings: SettingsDep,
    unread: Annotated[bool | None, Query(description="true: only unread ones; false: only read ones")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    rows = await notifications.for_reader(db, user.sub, readable_parties(user), unread=unread, limit=limit)
    return {"items": [_out(r, settings) for r in rows]}


async def mark_read_by(db: Db, user: Principal, row: dict[str, Any]) -> None:
    """``user`` has read the notification ``row``: unless it is addressed to a party they read for,
    it answers as a missing one does (404, nothing changes): ids are sequential, and a refusal naming
    the party would let anyone list who is told what. The JSON route and the page both mark here."""
    parties = readable_parties(user)
    if parties is not None and row["party"] not in {str(p) for p in parties}:
        raise NotFound("notification", str(row["id"]))
    await notifications.mark_read(db, row["id"], user.sub)


@router.post("/{notification_id}/read", response_model=Notification, summary="Mark one of your notifications read")
async def mark_read(user: CurrentUser, row: KnownNotification, db: Db, settings: SettingsDep) -> dict[str, Any]:
    await mark_read_by(db, user, row)
    return _out({**row, "read": True}, settings)
