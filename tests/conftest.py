import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "data"


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: needs the built book (_build/html) and Chromium; run by `make browser`")
    config.addinivalue_line("markers", "built_book: reads what the book build wrote (every chapter's default run); "
                                       "run by `make browser`, after `make book-strict`")
    config.addinivalue_line("markers", "shared_data: needs the full data sets in the folder FORTIFAI_SHARED_DATA names "
                                       "(skipped without it); `pytest -m shared_data` runs these alone")


def pytest_collection_modifyitems(items):
    for item in items:  # a test that takes the full copies is one that `-m shared_data` selects
        if "shared_data" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.shared_data)


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def fixture_data() -> Path:
    """Small committed excerpts of BLiMP, GSM8K and WikiText-2, in the layout of a full copy (tests/data/README.md)."""
    return FIXTURES


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of full copies that FORTIFAI_SHARED_DATA names; the test is skipped, saying how, without one."""
    folder = os.environ.get("FORTIFAI_SHARED_DATA")
    if not folder:
        pytest.skip("needs the full data sets: set FORTIFAI_SHARED_DATA to a folder holding blimp/, gsm8k/ and "
                    "wikitext-2-raw/ (see tests/data/README.md)")
    if not Path(folder).is_dir():
        pytest.fail(f"FORTIFAI_SHARED_DATA={folder} is not a folder")
    return Path(folder)
