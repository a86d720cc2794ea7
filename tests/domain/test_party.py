"""A party is built and parsed in one place (ilea.domain.Party)."""

from __future__ import annotations

import pytest

from ilea.domain import Agency, Party, PartyKind, Role, all_parties, parties_for


def test_every_party_round_trips_through_its_string() -> None:
    texts = [str(p) for p in all_parties()]
    assert texts == [
        "isg:STATE",
        "isg:TREASURY",
        "isg:DHS",
        "isg:DOJ",
        "board:TREASURY",
        "board:DHS",
        "board:DOJ",
        "board:chair",
        "agency:TREASURY",
        "agency:DHS",
        "agency:DOJ",
        "program_officer",
    ]
    assert [Party.parse(t) for t in texts] == list(all_parties())


@pytest.mark.parametrize("text", ["board", "isg", "isg:", "isg:NASA", "board:STATE", "agency:STATE", "chair", ""])
def test_parse_refuses_what_no_one_reads(text: str) -> None:
    with pytest.raises(ValueError, match="not a party"):
        Party.parse(text)


def test_parties_for_a_person_follow_their_roles_and_agency() -> None:
    assert parties_for(Agency.DHS, [Role.isg_member, Role.agency_coordinator]) == [
        Party.isg(Agency.DHS),
        Party.coordinators(Agency.DHS),
    ]
    assert parties_for(Agency.STATE, [Role.board_chair, Role.program_officer]) == [
        Party.chair(),
        Party.program_officer(),
    ]
    # a role only counts with the agencies product.md allows it
    assert parties_for(Agency.DHS, [Role.program_officer, Role.board_chair]) == []
    assert parties_for(Agency.STATE, [Role.board_member, Role.agency_coordinator]) == []
    assert Party.chair().kind is PartyKind.board
