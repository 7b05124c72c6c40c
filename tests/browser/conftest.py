"""Browser tests: JupyterLab driven by headless Chromium. They run only under
``make test-browser`` (which sets ``S2E_BROWSER_TEST=1``); ``make test`` and ``make test-all``
skip them."""

from __future__ import annotations

import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives JupyterLab in headless Chromium (make test-browser)")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so a fixture can see the test failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)
