"""End a process that used a Temporal client without racing the interpreter's finalisation.

Temporal's core (Rust) keeps threads that call back into Python. If the last
client or runtime is freed while the interpreter finalises, such a thread
may take the GIL from a dying interpreter and abort the process ("Fatal
Python error: PyGILState_Release"), turning a successful run into exit 134.
:func:`exit_process` frees what is left, flushes the log and the standard
streams, and leaves with ``os._exit``, so finalisation never runs.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
from typing import NoReturn


def exit_process(code: int) -> NoReturn:
    """Flush, then exit with ``code`` without interpreter finalisation."""
    gc.collect()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
