"""kplane.bench's statistics, tables and metrics parsing, and the thin scripts in benchmarks/."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from kplane.bench import api, report, scale, stats

ROOT = Path(__file__).resolve().parent.parent


def test_percentile_interpolates_between_closest_ranks() -> None:
    values = [4.0, 1.0, 3.0, 2.0, 5.0]  # order must not matter
    assert stats.percentile(values, 0) == 1.0
    assert stats.percentile(values, 50) == 3.0
    assert stats.percentile(values, 100) == 5.0
    assert stats.percentile(values, 25) == 2.0
    assert stats.percentile(values, 90) == pytest.approx(4.6)
    assert stats.percentile([1.0, 2.0], 50) == pytest.approx(1.5)
    # p99 of 1..100: rank 98.01 -> between 99 and 100
    assert stats.percentile([float(i) for i in range(1, 101)], 99) == pytest.approx(99.01)


def test_percentile_edge_cases() -> None:
    assert math.isnan(stats.percentile([], 50))
    assert stats.percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError):
        stats.percentile([1.0], 101)
    with pytest.raises(ValueError):
        stats.percentile([1.0], -1)


def test_summarize_reports_ms_and_rate() -> None:
    r = stats.summarize("get", [0.001, 0.002, 0.003, 0.004], seconds=2.0, errors=1, error_samples=["boom"],
                        client_cpu_s=0.5)
    assert (r.verb, r.count, r.errors) == ("get", 4, 1)
    assert r.ops_per_s == pytest.approx(2.0)
    assert r.p50_ms == pytest.approx(2.5)
    assert r.p99_ms == pytest.approx(3.97)
    assert r.error_samples == ["boom"]
    assert r.client_cpu_s == 0.5 and math.isnan(r.server_cpu_s)

    empty = stats.summarize("watch", [], seconds=0.0, errors=3)
    assert empty.count == 0 and math.isnan(empty.ops_per_s) and math.isnan(empty.p50_ms)


def test_phase_result_json_round_trip_turns_nan_into_null() -> None:
    r = stats.summarize("watch", [], seconds=1.0, errors=1)
    d = r.to_json()
    assert d["verb"] == "watch" and d["p50_ms"] is None and d["p99_ms"] is None and d["server_cpu_s"] is None
    back = stats.PhaseResult.from_json(d)
    assert back.count == 0 and math.isnan(back.p50_ms)


def test_format_table_aligns_columns() -> None:
    header = ["verb", "count", "ops/s"]
    rows = [["create", "1000", "250.0"], ["list-paged", "2", "4.0"]]
    lines = stats.format_table(header, rows).splitlines()
    assert lines[0].split() == header
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert lines[2].split() == ["create", "1000", "250.0"]
    assert {len(line) for line in lines} == {len(lines[1])}  # numbers right-aligned to the rule


def test_markdown_table_aligns_figures_right_and_text_left() -> None:
    md = stats.markdown_table(["what", "s", "note"], [["a", "1.5", "text"], ["b", "-", ""]]).splitlines()
    assert md[1] == "| --- | ---: | --- |"
    assert md[2] == "| a | 1.5 | text |"


def test_histogram_quantile_as_prometheus() -> None:
    buckets = [(0.005, 0.0), (0.01, 50.0), (0.025, 100.0), (math.inf, 100.0)]
    assert stats.histogram_quantile(0.5, buckets) == pytest.approx(0.01)
    assert stats.histogram_quantile(0.25, buckets) == pytest.approx(0.0075)
    assert stats.histogram_quantile(0.99, buckets) == pytest.approx(0.01 + 0.015 * 49 / 50)
    assert math.isnan(stats.histogram_quantile(0.5, [(0.1, 0.0), (math.inf, 0.0)]))
    # a rank past the last finite bound answers that bound
    assert stats.histogram_quantile(0.99, [(0.1, 1.0), (math.inf, 10.0)]) == 0.1


METRICS_BEFORE = """# HELP apiserver_request_duration_seconds x
apiserver_request_duration_seconds_bucket{verb="GET",group="",version="v1",resource="pods",le="0.005"} 10.0
apiserver_request_duration_seconds_bucket{verb="GET",group="",version="v1",resource="pods",le="0.01"} 10.0
apiserver_request_duration_seconds_bucket{verb="GET",group="",version="v1",resource="pods",le="+Inf"} 10.0
"""
METRICS_AFTER = """apiserver_request_duration_seconds_bucket{verb="GET",group="",version="v1",resource="pods",le="0.005"} 10.0
apiserver_request_duration_seconds_bucket{verb="GET",group="",version="v1",resource="pods",le="0.01"} 110.0
apiserver_request_duration_seconds_bucket{verb="GET",group="",version="v1",resource="pods",le="+Inf"} 110.0
apiserver_request_duration_seconds_bucket{verb="POST",group="apps",version="v1",resource="deployments",le="0.005"} 4.0
apiserver_request_duration_seconds_bucket{verb="POST",group="apps",version="v1",resource="deployments",le="0.01"} 4.0
apiserver_request_duration_seconds_bucket{verb="POST",group="apps",version="v1",resource="deployments",le="+Inf"} 4.0
apiserver_request_duration_seconds_count{verb="POST",group="apps",version="v1",resource="deployments"} 4.0
"""


def test_latency_by_verb_uses_the_difference_of_two_scrapes() -> None:
    by_verb = scale.latency_by_verb(METRICS_BEFORE, METRICS_AFTER)
    assert set(by_verb) == {"GET", "POST"}
    assert by_verb["GET"]["count"] == 100.0  # only the requests between the scrapes
    assert by_verb["GET"]["p50_ms"] == pytest.approx(7.5)
    assert by_verb["POST"]["count"] == 4.0 and by_verb["POST"]["slo_ms"] == 1000.0


def test_split_shares_work_between_workers() -> None:
    assert api.split(32, 3) == [11, 11, 10]
    assert api.split(1, 2) == [1, 0]
    assert sum(api.split(2000, 7)) == 2000


def test_ratios_per_figure() -> None:
    a = [stats.summarize("get", [0.001] * 10, seconds=1.0)]
    b = [stats.summarize("get", [0.002] * 20, seconds=1.0)]
    r = api.ratios(a, b)
    assert r["get"]["ops_per_s"] == 0.5 and r["get"]["p50_ms"] == 0.5


def test_report_renders_an_unavailable_scale_result() -> None:
    doc = {"benchmark": "scale", "machine": {}, "result": {"nodes": 3, "pods": 10, "storage": "sqlite",
                                                           "status": "unavailable", "reason": "no kubelet"}}
    assert "unavailable" in report.render_text(doc)
    assert "| unavailable | no kubelet |" in report.render_markdown(doc)
    with pytest.raises(ValueError):
        report.render_text({"benchmark": "nope"})


@pytest.mark.parametrize("script", ["api_bench.py", "startup_bench.py", "scale_bench.py", "run_all.py"])
def test_scripts_are_thin_entry_points(script: str) -> None:
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--help"], capture_output=True,
                       text=True, timeout=60, cwd="/")
    assert r.returncode == 0, r.stderr
    assert "usage:" in r.stdout
