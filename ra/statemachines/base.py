"""What every machine shares: a typed error for an illegal move, the fold step, a diagram.

A machine's table is read two ways: `transitions` builds the live machine
from it (which decides moves, `allows` asks without moving), and
`TableMachine.next_state` reads it directly, without building a machine,
for folding a stream of recorded events (every machine's replay uses it).
`permits` and `refusal_from` ask the same table about a state held
elsewhere (the session engine's, which is the fold of its own events), so
a side whose state is a fold judges its next move by the very step that
folds it.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from transitions import Machine, MachineError

from ra.errors import InputError


class IllegalMove(InputError):
    """The move is not allowed from the current state; nothing was recorded."""


class TableMachine(Machine):
    """A `transitions` Machine built from a table, with no back doors.

    `auto_transitions=False` (no ``to_<state>()``), `queued=True`, and invalid
    triggers raise (never ``ignore_invalid_triggers``). `fire` turns the
    library's error into `IllegalMove` with a sentence for people.
    """

    STATES: type[Enum]
    TRANSITIONS: list[dict[str, Any]]
    NAME = "object"

    #: Where a machine starts when no folded state is given.
    INITIAL: Enum

    def __init__(self, initial: Enum | None = None, label: str = "") -> None:
        self.label = label
        super().__init__(
            states=self.STATES,
            transitions=self.TRANSITIONS,
            initial=self.INITIAL if initial is None else initial,
            auto_transitions=False,
            queued=True,
            send_event=False,
        )

    def fire(self, trigger: str, why: str = "") -> None:
        if not self.allows(trigger):
            raise IllegalMove(why or self.refusal(trigger))
        try:
            self.trigger(trigger)
        except MachineError as exc:  # pragma: no cover - allows() said yes
            raise IllegalMove(str(exc)) from None

    @classmethod
    def next_state(cls, state: Enum, trigger: str) -> Enum | None:
        """Where `trigger` takes `state` by the table, or None if the table has no such move.

        The fold step: it reads the same table the machine is built from, so
        replaying a log needs no machine.
        """
        for row in cls.TRANSITIONS:
            sources = row["source"] if isinstance(row["source"], list) else [row["source"]]
            if row["trigger"] == trigger and state in sources:
                dest: Enum = state if row["dest"] is None else row["dest"]
                return dest
        return None

    @classmethod
    def permits(cls, state: Enum, trigger: str) -> bool:
        """Whether the table has a move for `trigger` from `state` (`allows`, for a
        state that is not a built machine's)."""
        return cls.next_state(state, trigger) is not None

    def allows(self, trigger: str) -> bool:
        checker = getattr(self, f"may_{trigger}", None)
        return bool(checker()) if checker is not None else False

    @classmethod
    def refusal_from(cls, state: object, trigger: str, label: str = "") -> str:
        """The sentence for people that says `trigger` cannot happen in `state`."""
        shown = state.value if isinstance(state, Enum) else state
        name = f"{cls.NAME} {label}".strip()
        return f"cannot {trigger.replace('_', ' ')} {name}: it is {shown}"

    def refusal(self, trigger: str) -> str:
        return self.refusal_from(self.state, trigger, self.label)

    @classmethod
    def diagram(cls) -> str:
        """The machine as a Mermaid state diagram, generated from its table."""
        lines = ["stateDiagram-v2"]
        for row in cls.TRANSITIONS:
            sources = row["source"] if isinstance(row["source"], list) else [row["source"]]
            for source in sources:
                src = source.value if isinstance(source, Enum) else source
                dest = row["dest"]
                if dest in (None, "="):
                    dest = src
                dst = dest.value if isinstance(dest, Enum) else dest
                lines.append(f"    {src} --> {dst}: {row['trigger']}")
        return "\n".join(lines)
