"""benchmarks/api_bench.py: its statistics and table formatting.

The benchmark itself needs a running API server; once the kplane server fixture exists, an
end-to-end test belongs here too: run ``api_bench.main(["--kubeconfig", <fixture's kubeconfig>,
"-n", "50", "--timeout", "60", "--json", <tmp>])``, expect exit 0 and every verb with count > 0.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH_PATH = Path(__file__).resolve().parent.parent / "benchmarks" / "api_bench.py"


def _load() -> ModuleType:
    name = "kplane_api_bench"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BENCH_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


bench = _load()


def test_percentile_interpolates_between_closest_ranks() -> None:
    values = [4.0, 1.0, 3.0, 2.0, 5.0]  # order must not matter
    assert bench.percentile(values, 0) == 1.0
    assert bench.percentile(values, 50) == 3.0
    assert bench.percentile(values, 100) == 5.0
    assert bench.percentile(values, 25) == 2.0
    assert bench.percentile(values, 90) == pytest.approx(4.6)
    assert bench.percentile([1.0, 2.0], 50) == pytest.approx(1.5)
    # p99 of 1..100: rank 98.01 -> between 99 and 100
    assert bench.percentile([float(i) for i in range(1, 101)], 99) == pytest.approx(99.01)


def test_percentile_edge_cases() -> None:
    assert math.isnan(bench.percentile([], 50))
    assert bench.percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError):
        bench.percentile([1.0], 101)
    with pytest.raises(ValueError):
        bench.percentile([1.0], -1)


def test_summarize_reports_ms_and_rate() -> None:
    r = bench.summarize("get", [0.001, 0.002, 0.003, 0.004], seconds=2.0, errors=1, error_samples=["boom"])
    assert (r.verb, r.count, r.errors) == ("get", 4, 1)
    assert r.ops_per_s == pytest.approx(2.0)
    assert r.p50_ms == pytest.approx(2.5)
    assert r.p99_ms == pytest.approx(3.97)
    assert r.error_samples == ["boom"]

    empty = bench.summarize("watch", [], seconds=0.0, errors=3)
    assert empty.count == 0 and math.isnan(empty.ops_per_s) and math.isnan(empty.p50_ms)


def test_format_table() -> None:
    results = [
        bench.summarize("create", [0.010] * 1000, seconds=4.0),
        bench.summarize("list-paged", [0.0015, 0.0025], seconds=0.5),
        bench.summarize("watch", [], seconds=1.0, errors=2),
    ]
    lines = bench.format_table(results).splitlines()
    assert lines[0].split() == ["verb", "count", "errors", "ops/s", "p50", "ms", "p99", "ms"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert lines[2].split() == ["create", "1000", "0", "250.0", "10.00", "10.00"]
    assert lines[3].split() == ["list-paged", "2", "0", "4.0", "2.00", "2.49"]
    assert lines[4].split() == ["watch", "0", "2", "0.0", "-", "-"]
    # columns line up: every row as wide as the header rule, numbers right-aligned
    assert {len(line) for line in lines} == {len(lines[1])}
    assert lines[0].index("p99 ms") + len("p99 ms") == len(lines[1])


def test_results_json_turns_nan_into_null() -> None:
    results = [bench.summarize("watch", [], seconds=1.0, errors=1)]
    doc = bench.results_json(results, {"server": "https://127.0.0.1:6443", "aborted": False})
    assert doc["server"] == "https://127.0.0.1:6443"
    (phase,) = doc["results"]
    assert phase["verb"] == "watch" and phase["p50_ms"] is None and phase["p99_ms"] is None
