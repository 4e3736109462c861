"""Run a parsed command: every error a user can cause becomes one line, one JSON document and an exit code."""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import traceback
from collections.abc import Callable, Coroutine
from typing import Any

from temporalio.service import RPCError, RPCStatusCode

from watcher_temporal.cli.exit_codes import CommandError, ExitCode, UsageError
from watcher_temporal.cli.report import fail
from watcher_temporal.codec import CodecKeyError
from watcher_temporal.config import CliSettings


def run_command(args: argparse.Namespace, *, settings: CliSettings | None = None) -> int:
    """Run the parsed command; every error a user can cause becomes one line and an exit code."""
    try:
        code = _run(args, settings or CliSettings.from_env())
    except BrokenPipeError:  # the error report itself met the closed pipe
        code = _stdout_closed()
    # Free Temporal's core client now, not during interpreter finalisation,
    # where its threads calling back into Python abort the process.
    gc.collect()
    return code


def _run(args: argparse.Namespace, settings: CliSettings) -> int:
    run: Callable[[argparse.Namespace], Coroutine[Any, Any, int]] = args.command_run
    try:
        return int(asyncio.run(run(args)))
    except BrokenPipeError:
        return _stdout_closed()
    except CommandError as err:
        return fail(args, err.code, err.kind, err.message)
    except UsageError as err:
        return fail(args, ExitCode.USAGE, "UsageError", str(err))
    except CodecKeyError as err:
        return fail(args, ExitCode.FAILED, "CodecKeyError", f"payload codec: {err}")
    except KeyboardInterrupt:
        print("\nwatcher-temporal: stopped following; the workflow goes on", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except RPCError as err:
        return fail(args, *_rpc_error(err))
    except (RuntimeError, OSError) as err:
        # Temporal unreachable (the SDK raises RuntimeError on connect) and friends.
        return fail(args, ExitCode.FAILED, type(err).__name__, _first_line(err))
    except Exception as err:  # noqa: BLE001 - the contract: no traceback for anything a user meets
        if settings.debug:
            traceback.print_exc()
        hint = " (WATCHER_TEMPORAL_DEBUG=1 shows the traceback)"
        return fail(args, ExitCode.FAILED, type(err).__name__, _first_line(err) + hint)


def _stdout_closed() -> int:
    """stdout's reader went away (``| head``): write nothing more there, no traceback, exit 141 like SIGPIPE."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's last flush must not fail again
        os.close(devnull)
    except (OSError, ValueError):
        pass
    return ExitCode.BROKEN_PIPE


def _first_line(err: BaseException) -> str:
    lines = str(err).strip().splitlines()
    return lines[0] if lines else type(err).__name__


def _rpc_error(err: RPCError) -> tuple[ExitCode, str, str]:
    """Exit code, error type and message of a refusal by Temporal."""
    message = _first_line(err)
    if err.status == RPCStatusCode.INVALID_ARGUMENT:
        return ExitCode.USAGE, "InvalidArgument", f"Temporal refused the request: {message}"
    if err.status == RPCStatusCode.NOT_FOUND:
        return ExitCode.USAGE, "NotFound", f"Temporal knows no such thing: {message}"
    if err.status == RPCStatusCode.RESOURCE_EXHAUSTED:
        return ExitCode.FAILED, "ResourceExhausted", f"Temporal refused the request as too large or too many: {message}"
    if err.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
        return ExitCode.FAILED, "TemporalUnavailable", f"cannot reach Temporal: {message}"
    return ExitCode.FAILED, f"RPCError.{err.status.name}", message
