from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: needs the built book (_build/html) and Chromium; run by `make browser`")


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO
