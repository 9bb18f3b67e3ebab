"""Input that costs without limit (issue 22): every file a user hands bnnbench is bounded
before it is expanded or read whole (benchmark/input_bounds.py, report/compare.py). The
hostile files are refused by a child process running under ``setrlimit`` (500 MB of
address space, 5 CPU-seconds): a refusal that needed more would be killed, not pass."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.errors import BnnBenchError
from benchmark.input_bounds import MAX_YAML_DEPTH, MAX_YAML_NODES, check_yaml, decode
from report.compare import MAX_SUMMARY_BYTES, read_summary
from tests.conftest import REPO

ENV = {**os.environ, "PYTHONPATH": str(REPO)}
MEMORY, CPU_SECONDS = 500 * 2**20, 5


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))


def _cli_limited(*args: str) -> str:
    """``bnnbench ARGS`` under the limits: exit 2 with one ``bnnbench: error:`` line."""
    done = subprocess.run(
        [sys.executable, "-m", "benchmark.cli", *args],
        preexec_fn=_limits,  # noqa: PLW1509 - no threads in this test process's children
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1, (done.returncode, done.stderr[-2000:])
    assert lines[0].startswith("bnnbench: error: ")
    return lines[0]


def alias_bomb() -> str:
    """A 700-byte suite whose plug-in hparams name 9**9 (387 million) scalars."""
    levels = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    levels += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    return (
        "name: bomb\nmodels: [mlp]\ndatasets: [digits]\nseeds: 1\nepochs: 1\n"
        "optimizers:\n  - name: 'benchmark.optim.bop:Bop'\n    hparams:\n"
        "      lr: 0.01\n      table:\n" + "".join(f"        {line}\n" for line in levels)
    )


def test_the_alias_bomb_is_refused_under_limits(tmp_path: Path) -> None:
    suite = tmp_path / "bomb.yaml"
    suite.write_text(alias_bomb())
    assert suite.stat().st_size < 1000
    line = _cli_limited("validate", str(suite))
    assert f"more than {MAX_YAML_NODES:,} nodes" in line and str(suite) in line


def test_100k_deep_nesting_is_refused_under_limits(tmp_path: Path) -> None:
    suite = tmp_path / "deep.yaml"
    suite.write_text("name: deep\nmodels: " + "[" * 100_000 + "]" * 100_000 + "\n")
    assert f"deeper than {MAX_YAML_DEPTH} levels at line 2" in _cli_limited("validate", str(suite))


def test_a_50_mb_seed_list_is_refused_under_limits(tmp_path: Path) -> None:
    suite = tmp_path / "seeds.yaml"
    with suite.open("w") as f:
        f.write("name: seeds\nmodels: [mlp]\ndatasets: [digits]\noptimizers: [adam]\nseeds: [")
        f.write(", ".join(str(i) for i in range(6_000_000)) + "]\n")
    assert suite.stat().st_size > 50_000_000
    assert "larger than 1,000,000 bytes" in _cli_limited("validate", str(suite))


def test_dev_zero_and_deep_json_as_a_summary_are_refused_under_limits(tmp_path: Path) -> None:
    line = _cli_limited("compare", "/dev/zero", "/dev/zero")
    assert f"larger than {MAX_SUMMARY_BYTES:,} bytes" in line
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    assert "nests deeper than 32 levels" in _cli_limited("compare", str(deep), str(deep))


def test_summary_bounds_by_hand(tmp_path: Path) -> None:
    shallow = tmp_path / "shallow.json"
    shallow.write_text("[" * 32 + "]" * 32)  # 32 levels: allowed, then not a summary
    with pytest.raises(BnnBenchError, match="no schema_version"):
        read_summary(shallow)
    shallow.write_text("[" * 33 + "]" * 33)
    with pytest.raises(BnnBenchError, match="nests deeper than 32"):
        read_summary(shallow)
    shallow.write_text("null")
    with pytest.raises(BnnBenchError, match="no schema_version"):
        read_summary(shallow)


# ----------------------------------------------------------------------- counting by hand
def test_expanded_node_counts_by_hand() -> None:
    """``a: &a [x, x]`` is 3 nodes (the list and two scalars); ``b: &b [*a, *a]`` is
    1 + 2 x 3 = 7; with the two keys and the top mapping, ``{a, b}`` is 1 + 2 + 3 + 7 = 13.
    Doubling k times from a 2-scalar list gives 2**(k+2) - 1 nodes below the last key."""
    check_yaml("a: &a [x, x]\nb: &b [*a, *a]\n", "t")  # 13 nodes: fine
    k = 16  # the last list expands to 2**18 - 1 = 262,143 nodes > 100,000
    lines = ["l0: &l0 [x, x]"] + [f"l{i}: &l{i} [*l{i - 1}, *l{i - 1}]" for i in range(1, k + 1)]
    with pytest.raises(BnnBenchError, match="more than 100,000 nodes"):
        check_yaml("\n".join(lines), "t")
    check_yaml("\n".join(lines[:14]), "t")  # l13 expands to 2**15 - 1 = 32,767: fine


def test_depth_by_hand() -> None:
    check_yaml("x: " + "[" * (MAX_YAML_DEPTH - 1) + "]" * (MAX_YAML_DEPTH - 1), "t")
    with pytest.raises(BnnBenchError, match=f"deeper than {MAX_YAML_DEPTH}"):
        check_yaml("x: " + "[" * MAX_YAML_DEPTH + "]" * MAX_YAML_DEPTH, "t")


def test_every_shipped_suite_is_within_the_bounds() -> None:
    for path in sorted((REPO / "suites").glob("*.yaml")):
        check_yaml(path.read_text(encoding="utf-8"), str(path))


# ----------------------------------------------------------------------- encodings
@pytest.mark.parametrize(
    ("data", "named"),
    [
        ("name: x\n".encode("utf-16"), "is UTF-16-encoded"),
        ("name: x\n".encode("utf-16-le"), "looks UTF-16-encoded"),
        ("name: x\n".encode("utf-32"), "is UTF-32-encoded"),
        ("name: caf\u00e9\n".encode("latin-1"), "is not UTF-8 (byte 0xe9 at line 1"),
    ],
)
def test_encodings_are_named(data: bytes, named: str, tmp_path: Path) -> None:
    with pytest.raises(BnnBenchError) as excinfo:
        decode(data, "s.yaml", "suite file")
    assert named in str(excinfo.value) and "\n" not in str(excinfo.value)
    suite = tmp_path / "enc.yaml"
    suite.write_bytes(data)
    done = subprocess.run(
        [sys.executable, "-m", "benchmark.cli", "validate", str(suite)],
        env=ENV, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr[-2000:]
    assert named in done.stderr


def test_utf8_with_a_byte_order_mark_is_read() -> None:
    assert decode("\ufeffname: x\n".encode(), "s", "suite file") == "name: x\n"
