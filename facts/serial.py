"""Fact values as JSON, for ``pyinfra ... fact facts.drbd.DrbdResources``:
pyinfra's CLI serialises fact results and calls ``to_json()`` on objects."""

from __future__ import annotations

import dataclasses


class JsonDataclass:
    def to_json(self) -> dict:
        return dataclasses.asdict(self)  # type: ignore[call-overload]
