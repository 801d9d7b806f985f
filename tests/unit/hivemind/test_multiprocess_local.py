"""Publish in one process, receive in another, on the local SQLite back-end."""

from __future__ import annotations

from pathlib import Path

from hive_middleware.config import HiveConfig
from hive_middleware.hivemind.latency import measure_channel_latency


def test_cross_process_delivery_on_sqlite(tmp_path: Path) -> None:
    report = measure_channel_latency(HiveConfig.load(data_dir=str(tmp_path)), events=20, gap_s=0.01)
    assert report.backend == "sqlite" and report.events == 20
    # the file is polled every 20 ms; generous bound for a busy machine
    assert report.p50_ms < 500, report
