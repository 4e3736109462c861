"""The error taxonomy: retry decisions made once, and the docstring tree kept true."""

from __future__ import annotations

import inspect

import watcher_temporal.errors as errors
from watcher_temporal.errors import NON_RETRYABLE_ERROR_TYPES, WatcherTemporalError


def _taxonomy() -> list[type[WatcherTemporalError]]:
    return [
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, WatcherTemporalError) and cls is not WatcherTemporalError
    ]


def test_type_is_the_class_name_and_retry_follows_the_class() -> None:
    for cls in _taxonomy():
        err = cls("boom")
        assert err.type == cls.__name__
        assert err.non_retryable is (cls.__name__ in NON_RETRYABLE_ERROR_TYPES), cls
        assert err.non_retryable is not cls.retryable


def test_only_transport_trouble_is_retried() -> None:
    retried = sorted(cls.__name__ for cls in _taxonomy() if cls.retryable)
    assert retried == ["NovaBusy", "NovaUnavailable"]


def test_module_docstring_draws_every_error() -> None:
    doc = errors.__doc__ or ""
    for cls in _taxonomy():
        line = next((ln for ln in doc.splitlines() if f"── {cls.__name__} " in ln), "")
        assert line, f"{cls.__name__} missing from the tree in the docstring"
        assert ("non-retryable" in line) is (not cls.retryable), line
