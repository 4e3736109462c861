"""The base of every message that crosses a Temporal boundary, and input validation."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from watcher_temporal.errors import InvalidInput, bounded_problems

ModelT = TypeVar("ModelT", bound=BaseModel)


class Message(BaseModel):
    """Base of every message: immutable, unknown keys refused, strict about bools."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def describe_validation_error(err: ValidationError) -> list[dict[str, str]]:
    """Turn a pydantic error into ``[{"field": ..., "rule": ...}]`` entries.

    The list names every bad field once per broken rule, so an operator
    fixes all of them in one go instead of one per attempt.
    """
    problems = []
    for item in err.errors(include_url=False):
        field = ".".join(str(p) for p in item["loc"]) or "(input)"
        rule = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            rule = "unknown key (not a field of the migrate action)"
        problems.append({"field": field[:200], "rule": rule[:300]})
    return problems


def validate_input(model: type[ModelT], raw: object, *, what: str) -> ModelT:
    """Validate raw workflow input; raise ``InvalidInput`` naming every bad field.

    Workflows take raw JSON (not only their model) so that bad input fails
    the workflow with this readable, non-retryable error instead of failing
    payload decoding, which Temporal would retry as a workflow-task failure.

    Args:
        model: The input model.
        raw: What the starter sent (a model instance or plain JSON).
        what: Names the input in the message, e.g. ``"MigrateServer input"``.
    """
    if isinstance(raw, model):
        return raw
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        problems = bounded_problems(describe_validation_error(err))
        text = "; ".join(f"{p['field']}: {p['rule']}" for p in problems)
        raise InvalidInput(f"invalid {what}: {text}", problems) from None


def refuse_extra_arguments(what: str, extra: tuple[object, ...]) -> None:
    """Raise ``InvalidInput`` when a starter passed more workflow arguments than ``what`` takes.

    Workflows take ``*extra`` so that a wrong argument count fails the
    workflow at once instead of failing its task (which Temporal retries
    forever).
    """
    if extra:
        raise InvalidInput(
            f"invalid {what}: expected one input, got {1 + len(extra)} arguments",
            [{"field": "(arguments)", "rule": f"exactly one input (got {1 + len(extra)})"}],
        )
