"""Settings of a sidecar from environment variables: pydantic validation errors as problems that name the variable.

The sidecars refuse unknown variables (a misspelt one would otherwise silently keep its default), and a value
error names the variable and never echoes a secret's value.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from pydantic import BaseModel, ValidationError

from lacchain.errors import FieldProblem


def validation_problems(
    exc: ValidationError, model: type[BaseModel], secret_variables: Collection[str] = ()
) -> list[FieldProblem]:
    """One problem per pydantic error, named by environment variable (the field alias)."""
    return [_problem(error, model, secret_variables) for error in exc.errors()]


def _problem(error: Any, model: type[BaseModel], secret_variables: Collection[str]) -> FieldProblem:
    loc = error.get("loc", ())
    variable = str(loc[0]) if loc else "environment"
    kind = error["type"]
    if kind == "extra_forbidden":
        known = ", ".join(sorted(str(f.alias) for f in model.model_fields.values()))
        return FieldProblem(variable, "unknown variable", f"check its spelling; known: {known}")
    if kind == "missing":
        return FieldProblem(variable, "required but not set")
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind == "value_error":
        return FieldProblem(variable, message)
    shown = "" if variable in secret_variables else f" (got {error.get('input')!r})"
    return FieldProblem(variable, f"{message}{shown}")
