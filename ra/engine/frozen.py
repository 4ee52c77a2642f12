"""`Frozen`: the base of the engine's small values, said once instead of on each class.

The protocol's messages (`ra.engine.messages`), the engine's outputs
(`ra.engine.outputs`) and a window's actions (`ra.session.face`) are many small
classes that are nothing but their fields: immutable, compared and hashed by
value. A subclass of `Frozen` is made a frozen dataclass of its annotations
when it is declared (``class Chat(Frozen): text: str``), and type checkers
read it as one (PEP 681).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, dataclass_transform


@dataclass_transform(frozen_default=True)
class Frozen:
    """A frozen dataclass of the subclass's annotated fields."""

    __slots__ = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclass(frozen=True)(cls)
