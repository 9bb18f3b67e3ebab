"""Data-side reliability of issue 22: the mnist1d cache honours the umask and says it could
not be written on the bnnbench logger (not as a Python warning); an empty validation split
is refused."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import pytest

from benchmark.data import load_dataset
from benchmark.data.mnist1d import cache_path
from benchmark.errors import BnnBenchError


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_the_mnist1d_cache_follows_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        load_dataset("mnist1d", root=tmp_path)
    finally:
        os.umask(old)
    assert cache_path(tmp_path).stat().st_mode & 0o777 == 0o666 & ~umask  # 0644 / 0640


def test_an_unwritable_cache_is_a_log_line_not_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "mnist1d"
    blocker.write_text("a file where the cache folder would go")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a Python warning would raise here
        with caplog.at_level(logging.WARNING, logger="bnnbench"):
            data = load_dataset("mnist1d", root=tmp_path)
    assert len(data.test) == 1000
    assert [r.getMessage().split(":")[0] for r in caplog.records] == ["mnist1d"]
    assert "could not cache the generated data" in caplog.records[0].getMessage()


def test_a_validation_split_rounded_to_nothing_is_refused() -> None:
    # a pool of 4 (subset 4): round(0.1 x 4) = 0 validation samples; 0.125 x 4 = 0.5 -> 1
    with pytest.raises(
        BnnBenchError,
        match=r"val_fraction 0.1 of a pool of 4 keeps no validation sample; allowed: a val_fraction of at least 0.125",
    ):
        load_dataset("digits", subset=4, val_fraction=0.1)
    assert len(load_dataset("digits", subset=4, val_fraction=0.125).val) == 1
    assert len(load_dataset("digits", subset=4, val_fraction=0.0).val) == 0  # no split asked
