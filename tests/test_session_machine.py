"""The session machine: every legal move, every illegal one, and its diagram."""

from __future__ import annotations

from pathlib import Path

import pytest

from ra.statemachines.base import IllegalMove
from ra.statemachines.session import (
    TRANSITIONS,
    TRIGGERS,
    SessionMachine,
    SessionState,
    next_state,
)

S = SessionState
LIVE = [state for state in SessionState if state is not S.DISCONNECTED]

# Written out by hand (not derived from the table) so a change to the table shows up here.
LEGAL: dict[tuple[SessionState, str], SessionState] = {
    (S.CONNECTING, "authenticated"): S.AUTHENTICATED,
    (S.AUTHENTICATED, "view_consent_requested"): S.AWAITING_VIEW_CONSENT,
    (S.AWAITING_VIEW_CONSENT, "view_consent_granted"): S.VIEWING,
    (S.AWAITING_VIEW_CONSENT, "view_consent_denied"): S.DISCONNECTED,
    (S.VIEWING, "control_requested"): S.CONTROL_REQUESTED,
    (S.RELEASED, "control_requested"): S.CONTROL_REQUESTED,
    (S.CONTROL_REQUESTED, "control_consent_requested"): S.AWAITING_CONTROL_CONSENT,
    (S.AWAITING_CONTROL_CONSENT, "control_granted"): S.CONTROLLING,
    (S.AWAITING_CONTROL_CONSENT, "control_denied"): S.VIEWING,
    (S.CONTROLLING, "control_released"): S.RELEASED,
    # The screen cannot be shown: chat only, from any state with a screen to lose but
    # controlling (released first); control asked there is refused and changes nothing.
    **{(state, "view_unavailable"): S.CHAT_ONLY
       for state in (S.AUTHENTICATED, S.AWAITING_VIEW_CONSENT, S.VIEWING, S.CONTROL_REQUESTED,
                     S.AWAITING_CONTROL_CONSENT, S.RELEASED)},
    (S.CHAT_ONLY, "control_denied"): S.CHAT_ONLY,
    **{(state, "disconnected"): S.DISCONNECTED for state in LIVE},
}
ALL_TRIGGERS = sorted({trigger for _, trigger in LEGAL})
ILLEGAL = [
    (state, trigger)
    for state in SessionState
    for trigger in ALL_TRIGGERS
    if (state, trigger) not in LEGAL
]


def test_the_states_are_the_lifecycle() -> None:
    assert [state.value for state in SessionState] == [
        "connecting", "authenticated", "awaiting_view_consent", "viewing",
        "control_requested", "awaiting_control_consent", "controlling", "released",
        "chat_only", "disconnected",
    ]


def test_the_table_holds_exactly_the_legal_moves() -> None:
    assert set(TRIGGERS) == set(ALL_TRIGGERS)
    moves = {
        (source, row["trigger"]): row["dest"]
        for row in TRANSITIONS
        for source in (row["source"] if isinstance(row["source"], list) else [row["source"]])
    }
    assert moves == LEGAL


@pytest.mark.parametrize(("source", "trigger"), sorted(LEGAL, key=str))
def test_every_legal_move(source: SessionState, trigger: str) -> None:
    machine = SessionMachine(source, "s1")
    assert machine.allows(trigger)
    machine.fire(trigger)
    assert machine.current is LEGAL[(source, trigger)]
    assert next_state(source, trigger) is LEGAL[(source, trigger)]


@pytest.mark.parametrize(("source", "trigger"), ILLEGAL, ids=str)
def test_every_illegal_move_raises_and_changes_nothing(source: SessionState,
                                                       trigger: str) -> None:
    machine = SessionMachine(source, "s1")
    assert not machine.allows(trigger)
    with pytest.raises(IllegalMove) as raised:
        machine.fire(trigger)
    assert machine.current is source
    assert source.value in str(raised.value)
    assert next_state(source, trigger) is None


def test_an_unknown_trigger_is_illegal() -> None:
    machine = SessionMachine(S.VIEWING)
    with pytest.raises(IllegalMove):
        machine.fire("helper_took_over")
    with pytest.raises(IllegalMove):
        machine.fire("to_controlling")  # no back doors
    assert machine.current is S.VIEWING


def test_disconnected_is_final() -> None:
    machine = SessionMachine(S.DISCONNECTED)
    assert not any(machine.allows(trigger) for trigger in ALL_TRIGGERS)


def test_control_can_be_asked_for_again_after_a_release() -> None:
    machine = SessionMachine()
    for trigger in ["authenticated", "view_consent_requested", "view_consent_granted",
                    "control_requested", "control_consent_requested", "control_granted",
                    "control_released", "control_requested", "control_consent_requested",
                    "control_denied", "control_requested"]:
        machine.fire(trigger)
    assert machine.current is S.CONTROL_REQUESTED


def test_the_diagram_mentions_every_state_and_trigger() -> None:
    diagram = SessionMachine.diagram()
    assert diagram.startswith("stateDiagram-v2")
    for state in SessionState:
        assert state.value in diagram
    for (source, trigger), dest in LEGAL.items():
        assert f"{source.value} --> {dest.value}: {trigger}" in diagram


def test_the_documented_diagram_is_the_generated_one() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "session.md").read_text()
    assert SessionMachine.diagram() in doc
