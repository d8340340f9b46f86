"""Errors raised by the domain library.

Every error a user can cause carries the *field* it is about and a *fix*, because the person reading it is
usually editing a stack file and needs to know which line to change and to what.
"""

from __future__ import annotations

from dataclasses import dataclass


class LacchainError(Exception):
    """Base class for errors the domain library raises on purpose."""


@dataclass(frozen=True)
class FieldProblem:
    """One thing wrong with one field of an input document."""

    field: str
    problem: str
    fix: str = ""

    def render(self) -> str:
        text = f"{self.field}: {self.problem}"
        return f"{text}; {self.fix}" if self.fix else text


class InvalidInput(LacchainError, ValueError):
    """Input that cannot work, refused before anything is built.

    Carries every problem found, not just the first, so a user fixes a stack file in one pass.
    """

    def __init__(self, problems: list[FieldProblem], source: str = "") -> None:
        self.problems = problems
        self.source = source
        header = f"{source} is not valid" if source else "invalid input"
        lines = "\n".join(f"  - {p.render()}" for p in problems)
        super().__init__(f"{header}:\n{lines}")

    @classmethod
    def single(cls, field: str, problem: str, fix: str = "", source: str = "") -> InvalidInput:
        return cls([FieldProblem(field, problem, fix)], source)
