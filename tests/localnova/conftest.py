"""Load the localnova pytest plugin unless the root conftest already did.

``pytest_plugins`` is only allowed in the *root* conftest (pytest errors on
it elsewhere), so the plugin is registered here via the plugin manager, and
only when ``tests/conftest.py`` has not loaded it already.
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("localnova.pytest_plugin"):
        config.pluginmanager.import_plugin("localnova.pytest_plugin")
