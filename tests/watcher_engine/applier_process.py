"""An applier as its own process, to be killed and restarted by a test.

``python -m tests.watcher_engine.applier_process CONFIG ENGINE run PLAN_UUID``: what
the applier service does when a plan is launched (Watcher's
``DefaultActionPlanHandler``) with ``workflow_engine = ENGINE``. ``... CONFIG ENGINE sync``: what
``watcher-temporal-applier`` does at start-up (``ReattachingSyncer.sync()``),
then waits for the plans it re-attached.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.watcher_engine.watcher_stack import load_watcher


def main(argv: list[str]) -> int:
    config_file, engine, mode, *rest = argv
    context = load_watcher(Path(config_file))
    from oslo_config import cfg

    cfg.CONF.set_override("workflow_engine", engine, group="watcher_applier")
    if mode == "run":
        from watcher.applier.action_plan.default import DefaultActionPlanHandler

        DefaultActionPlanHandler(context, None, rest[0]).execute()
        return 0
    from watcher_temporal.watcher_engine.reattach import ReattachingSyncer

    syncer = ReattachingSyncer()  # with taskflow: Watcher's own sync, which cancels
    syncer.sync()
    syncer.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
