"""Decision pages: each decider sees what they need, then decides; nothing is ever preset.

- An ISG seat: the proposal, its cost and needs, the other seats' votes so far, and on a
  revision round a redline of what changed since the round the seat last voted on.
- A Board member: the same facts, the ISG outcome and the other positions.
- The chair: the Board positions with comments, the dissent, the cost, the fast-track status.
- A program officer withdrawing: what withdrawal does, and a reason of substance.

A refused form comes back with exactly what was entered and the reason on top.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.auth import Principal
from api.deps import Db, Temporal
from api.web import versions
from api.web.deps import BoardChair, BoardMember, FormData, IsgMember, Officer, Posted, ProposalDoc
from api.web.forms import Outcome, act, choice_of, done, text_of
from api.web.render import render
from ilea.db import audit
from ilea.domain import TERMINAL_STAGES
from ilea.messages import BoardDecisionInput, BoardPositionInput, IsgVoteInput, WithdrawInput
from workflows.proposal import ProposalWorkflow

router = APIRouter(include_in_schema=False)

VOTES = {
    "concur": ("Concur", "The seat agrees; the proposal may go on."),
    "nonconcur": ("Non-concur", "The seat disagrees. Two non-concurs reject the proposal; one is a dissent."),
    "request_changes": ("Request changes", "Back to the program officer for a revision."),
    "abstain": ("Abstain", "The seat takes no position (this prevents a fast track)."),
}
POSITIONS = {
    "concur": ("Concur", "Your department supports the proposal. A comment is optional."),
    "nonconcur": ("Non-concur", "Your department opposes it; say why. Two non-concurs block approval."),
}
DECISIONS = {
    "approve": ("Approve", "Instructor requests go out to the agencies at once."),
    "disapprove": ("Disapprove", "The proposal is rejected. Say why."),
    "return_to_isg": (
        "Return to the ISG",
        "Back to the program officer for a revision, then a new ISG round. Say why.",
    ),
}
#: A withdrawal reason must say something: at least this many characters and words.
REASON_MIN_CHARS, REASON_MIN_WORDS = 20, 4


def _options(table: dict[str, tuple[str, str]]) -> list[tuple[str, str, str]]:
    return [(k, label, desc) for k, (label, desc) in table.items()]


async def _last_voted_round(db: Db, proposal_id: str, seat: str) -> int | None:
    rounds = [
        int((e.get("detail") or {}).get("round") or 0)
        for e in await audit.fetch(db, proposal_id)
        if e["action"] in ("isg_vote", "deemed_concur") and e.get("agency") == seat
    ]
    return max(rounds) if rounds else None


async def _redline(client: Temporal, db: Db, doc: dict[str, Any], seat: str) -> dict[str, Any] | None:
    """What changed since the round this seat last voted on (None in round 1 or if it never voted)."""
    if int(doc.get("round") or 1) <= 1:
        return None
    last = await _last_voted_round(db, doc["id"], seat)
    rounds = await versions.fields_by_round(client, doc["id"])
    if last is None or last not in rounds or last >= doc["round"]:
        return None
    return {"since": last, "changes": versions.redline(rounds[last], doc)}


async def page(
    request: Request,
    db: Db,
    client: Temporal,
    user: Principal,
    doc: dict[str, Any],
    kind: str,
    *,
    outcome: Outcome | None = None,
) -> Response:
    """The decision page of ``kind`` (vote, position, decision, withdraw), fresh or after a refusal."""
    outcome = outcome if outcome is not None else Outcome()
    ctx: dict[str, Any] = {"p": doc, "kind": kind, "v": outcome.values, "errors": outcome.errors}
    pid = doc["id"]
    if kind == "vote":
        seat = user.agency.value
        ctx |= {"title": f"Vote for the {seat} ISG seat", "action": f"/ui/proposals/{pid}/vote", "name": "vote"}
        ctx |= {"options": _options(VOTES), "legend": "The seat's vote", "submit": "Record the vote"}
        ctx["mine"] = next((v for v in doc.get("isg_votes", []) if v["agency"] == seat), None)
        ctx["redline"] = await _redline(client, db, doc, seat)
        ctx["comment_hint"] = "Required unless you concur."
    elif kind == "position":
        ctx |= {"title": f"{user.agency.value}'s Policy Board position", "name": "position"}
        ctx |= {"action": f"/ui/proposals/{pid}/position", "options": _options(POSITIONS)}
        ctx |= {"legend": "Your department's position", "submit": "Record the position"}
        ctx["mine"] = next((b for b in doc.get("board_positions", []) if b["agency"] == user.agency.value), None)
        ctx["comment_hint"] = "Required for a non-concur."
    elif kind == "decision":
        nonconcurs = [b for b in doc.get("board_positions", []) if b["position"] == "nonconcur"]
        ctx |= {"title": "The Policy Board's decision", "action": f"/ui/proposals/{pid}/decision", "name": "decision"}
        ctx |= {"options": _options(DECISIONS), "legend": "Your decision as chair", "submit": "Record the decision"}
        ctx |= {
            "blocked": len(nonconcurs) >= 2,
            "dissenting": [v for v in doc.get("isg_votes", []) if v["vote"] == "nonconcur"],
        }
        ctx["comment_hint"] = "Required to disapprove or return to the ISG."
    else:
        open_requests = [r for r in doc.get("instructor_requests", []) if r["status"] == "open"]
        booked = [r for r in doc.get("instructor_requests", []) if r["status"] == "accepted"]
        ctx |= {"title": f"Withdraw “{doc['title']}”?", "action": f"/ui/proposals/{pid}/withdraw"}
        ctx |= {"open_requests": open_requests, "booked": booked, "min_chars": REASON_MIN_CHARS}
        ctx["terminal"] = doc["stage"] in {s.value for s in TERMINAL_STAGES}
    status = outcome.status if outcome.errors else 200
    return render(request, "decide.html", ctx, user=user, status=status)


@router.get("/ui/proposals/{proposal_id}/vote", response_model=None)
async def vote_page(request: Request, db: Db, client: Temporal, user: IsgMember, doc: ProposalDoc) -> Response:
    return await page(request, db, client, user, doc, "vote")


@router.get("/ui/proposals/{proposal_id}/position", response_model=None)
async def position_page(request: Request, db: Db, client: Temporal, user: BoardMember, doc: ProposalDoc) -> Response:
    return await page(request, db, client, user, doc, "position")


@router.get("/ui/proposals/{proposal_id}/decision", response_model=None)
async def decision_page(request: Request, db: Db, client: Temporal, user: BoardChair, doc: ProposalDoc) -> Response:
    return await page(request, db, client, user, doc, "decision")


@router.get("/ui/proposals/{proposal_id}/withdraw", response_model=None)
async def withdraw_page(request: Request, db: Db, client: Temporal, user: Officer, doc: ProposalDoc) -> Response:
    return await page(request, db, client, user, doc, "withdraw")


#: Each choice form: its options, what to choose, the Update's input and the Update, the note when done.
_CHOICES: dict[str, tuple[dict[str, tuple[str, str]], str, Any, Any, str]] = {
    "vote": (VOTES, "a vote", IsgVoteInput, ProposalWorkflow.isg_vote, "Your vote is recorded."),
    "position": (
        POSITIONS,
        "a position",
        BoardPositionInput,
        ProposalWorkflow.board_position,
        "Your Board position is recorded.",
    ),
    "decision": (
        DECISIONS,
        "a decision",
        BoardDecisionInput,
        ProposalWorkflow.board_decision,
        "The decision is recorded.",
    ),
}


async def _decide(
    request: Request, db: Db, client: Temporal, user: Principal, form: FormData, doc: dict[str, Any], kind: str
) -> Response:
    """A choice with a comment (vote, position, decision): sent, or the page again with what was entered."""
    options, what, model, update, ok = _CHOICES[kind]
    o = Outcome()
    choice, comment = choice_of(form, kind, options, o, what), text_of(form, "comment", o)
    make = partial(model, actor=user.actor(), comment=comment, **{kind: choice})
    if not await act(client, db, user, form, doc["id"], update, make, o, ("comment",)):
        return await page(request, db, client, user, doc, kind, outcome=o)
    return done(request, form, f"/ui/proposals/{doc['id']}", ok)


@router.post("/ui/proposals/{proposal_id}/vote", response_model=None)
async def vote(request: Request, db: Db, client: Temporal, user: IsgMember, form: Posted, doc: ProposalDoc) -> Response:
    return await _decide(request, db, client, user, form, doc, "vote")


@router.post("/ui/proposals/{proposal_id}/position", response_model=None)
async def position(
    request: Request, db: Db, client: Temporal, user: BoardMember, form: Posted, doc: ProposalDoc
) -> Response:
    return await _decide(request, db, client, user, form, doc, "position")


@router.post("/ui/proposals/{proposal_id}/decision", response_model=None)
async def decision(
    request: Request, db: Db, client: Temporal, user: BoardChair, form: Posted, doc: ProposalDoc
) -> Response:
    return await _decide(request, db, client, user, form, doc, "decision")


@router.post("/ui/proposals/{proposal_id}/withdraw", response_model=None)
async def withdraw(
    request: Request, db: Db, client: Temporal, user: Officer, form: Posted, doc: ProposalDoc
) -> Response:
    o = Outcome()
    reason = text_of(form, "reason", o, limit=2000) or ""
    if len(reason) < REASON_MIN_CHARS or len(reason.split()) < REASON_MIN_WORDS:
        o.add("reason", f"say why in at least {REASON_MIN_WORDS} words ({REASON_MIN_CHARS} characters): the reason "
              "goes to everyone the withdrawal affects")  # fmt: skip
    make = partial(WithdrawInput, actor=user.actor(), reason=reason)
    if not await act(client, db, user, form, doc["id"], ProposalWorkflow.withdraw, make, o, ("reason",)):
        return await page(request, db, client, user, doc, "withdraw", outcome=o)
    return done(request, form, f"/ui/proposals/{doc['id']}", "The proposal is withdrawn.")
