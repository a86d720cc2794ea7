"""Who is at the page, declared per route: ``Viewer``, ``ViewerWith(role)``, a checked form, a proposal.

The pages' counterpart of ``api.deps``: a handler names what it needs in its
signature and its body never re-checks. A stranger is sent to sign in (a
poll gets 401), a role the page is not for gets a message page (403), a form
without this session's CSRF token is refused (403), a missing proposal is a
404 page. The exceptions are turned into pages by :func:`install`.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import Depends, FastAPI, Request
from fastapi.params import Depends as DependsParam
from fastapi.responses import JSONResponse, Response

from api.auth import Principal
from api.web.render import message, to_login
from api.web.session import CsrfError, check_csrf, viewer
from ilea.db import proposals, roster
from ilea.domain import Role


class SignInRequired(Exception):
    """Nobody is signed in (or the session expired)."""

    def __init__(self, *, poll: bool = False) -> None:
        self.poll = poll


class PageRefused(Exception):
    """A page or form this viewer may not use, or a resource that is not there: shown as one sentence."""

    def __init__(self, user: Principal | None, title: str, text: str, status: int) -> None:
        super().__init__(text)
        self.user, self.title, self.text, self.status = user, title, text, status


async def _viewer(request: Request) -> Principal:
    user = viewer(request)
    if user is None:
        raise SignInRequired()
    return user


async def _poll_viewer(request: Request) -> Principal:
    user = viewer(request)
    if user is None:
        raise SignInRequired(poll=True)
    return user


async def _maybe_viewer(request: Request) -> Principal | None:
    return viewer(request)


#: The signed-in person, or None (the sign-in page itself).
MaybeViewer = Annotated[Principal | None, Depends(_maybe_viewer)]
#: The signed-in person; a stranger is redirected to sign in and comes back here afterwards.
Viewer = Annotated[Principal, Depends(_viewer)]
#: The same for the pages' live-update requests, which answer 401 instead of redirecting.
PollViewer = Annotated[Principal, Depends(_poll_viewer)]


def _role_words(roles: tuple[Role, ...]) -> str:
    return " or ".join(r.value.replace("_", " ") + "s" for r in roles)


class _RoleGate:
    def __init__(self, roles: tuple[Role, ...], title: str) -> None:
        self.roles, self.title = roles, title

    async def __call__(self, user: Viewer) -> Principal:
        if not user.has(*self.roles):
            text = f"This is for {_role_words(self.roles)}; you are signed in as {user.name or user.sub}."
            raise PageRefused(user, self.title, text, 403)
        return user


def ViewerWith(*roles: Role, title: str = "Not available") -> Any:
    """The signed-in person holding one of ``roles``: ``user: Annotated[Principal, ViewerWith(Role.auditor)]``."""
    gate: DependsParam = Depends(_RoleGate(roles, title))
    return gate


Officer = Annotated[Principal, ViewerWith(Role.program_officer, title="Program officers only")]
IsgMember = Annotated[Principal, ViewerWith(Role.isg_member, title="ISG members only")]
BoardMember = Annotated[Principal, ViewerWith(Role.board_member, title="Board members only")]
BoardChair = Annotated[Principal, ViewerWith(Role.board_chair, title="The Board chair only")]
Coordinator = Annotated[Principal, ViewerWith(Role.agency_coordinator, title="Agency coordinators only")]
Reader = Annotated[Principal, ViewerWith(Role.program_officer, Role.auditor, title="Reports")]


class FormData(dict[str, str]):
    """A posted ``application/x-www-form-urlencoded`` form: the last value of each field, and all of them."""

    def __init__(self, multi: dict[str, list[str]]) -> None:
        super().__init__({k: v[-1] for k, v in multi.items()})
        self.multi = multi

    def getlist(self, key: str) -> list[str]:
        return list(self.multi.get(key, []))


async def _posted(request: Request, user: Viewer) -> FormData:
    body = (await request.body()).decode("utf-8", errors="replace")
    form = FormData(parse_qs(body, keep_blank_values=True))
    try:
        check_csrf(request, form)
    except CsrfError as err:
        raise PageRefused(user, "Refused", str(err), 403) from None
    return form


#: A form posted by the signed-in person from one of our pages (CSRF token and origin checked).
Posted = Annotated[FormData, Depends(_posted)]


async def _proposal(request: Request, proposal_id: str, user: Viewer) -> dict[str, Any]:
    doc = await proposals.get(request.app.state.pool, proposal_id)
    if doc is None:
        raise PageRefused(user, "Not found", "No such proposal.", 404)
    return doc


#: The proposal named by the path's ``proposal_id``, loaded once (a 404 page when there is none).
ProposalDoc = Annotated[dict[str, Any], Depends(_proposal)]


async def _request_row(request: Request, request_id: str, user: Viewer) -> dict[str, Any]:
    row = await roster.get_request(request.app.state.pool, request_id)
    if row is None:
        raise PageRefused(user, "Not found", "No such instructor request.", 404)
    return dict(row)


#: The instructor request named by the path's ``request_id`` (its row: ``proposal_id``, ``agency``, ``doc``).
RequestRow = Annotated[dict[str, Any], Depends(_request_row)]


def install(app: FastAPI) -> None:
    """Turn the dependencies' refusals into pages."""

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        if exc.poll:
            return JSONResponse({"detail": "sign in again"}, status_code=401)
        return to_login(request)

    @app.exception_handler(PageRefused)
    async def _refused(request: Request, exc: PageRefused) -> Response:
        return message(request, exc.title, exc.text, user=exc.user, status=exc.status)
