"""pytest glue for trial-style test cases."""

import pytest


@pytest.fixture(autouse=True)
def _run_in_temporary_directory(tmp_path, monkeypatch):
    # trial's TestCase.mktemp() makes paths relative to the working
    # directory (trial itself runs in _trial_temp/); under pytest, keep them
    # out of the checkout.
    monkeypatch.chdir(tmp_path)
