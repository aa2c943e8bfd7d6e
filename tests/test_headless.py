"""Headless mode end to end: the real `virtuoso` command in a subprocess, on the simulated market."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def virtuoso(*args: str, stdin: str | None = None, timeout: float = 120, cwd: Path | None = None,
             env: dict | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "virtuoso_tui.cli", *args]
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout,
                          cwd=cwd or REPO, env={**os.environ, **(env or {})})


def records(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


FAST = ("--no-ui", "--speed", "0", "--seed", "3", "--db", "")


def test_headless_emits_json_lines_and_exits_zero():
    out = virtuoso(*FAST, "--market-seconds", "900")
    assert out.returncode == 0, out.stderr
    recs = records(out.stdout)
    types = {r["type"] for r in recs}
    assert {"lifecycle", "candle", "signal"} <= types
    assert recs[0] == {"type": "lifecycle", "state": "starting",
                       "symbols": ["BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"]}
    assert recs[-1]["type"] == "lifecycle" and recs[-1]["state"] == "stopped"
    candles = [r for r in recs if r["type"] == "candle" and r["timeframe"] == "1m"]
    # 15 minutes of market time: about 14 closed 1m candles per symbol
    for sym in ("BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"):
        mine = [c for c in candles if c["symbol"] == sym]
        assert 13 <= len(mine) <= 15
        assert all(c["low"] <= min(c["open"], c["close"]) <= max(c["open"], c["close"]) <= c["high"] for c in mine)
        assert [c["ts"] % 60_000 for c in mine] == [0] * len(mine)
    sig = next(r for r in recs if r["type"] == "signal")
    assert sig["side"] in ("LONG", "SHORT", "NEUTRAL")
    assert set(sig["faces"]) >= {"technical", "volume", "orderflow", "orderbook", "price_structure", "sentiment"}


def test_headless_is_deterministic_for_a_seed():
    a = virtuoso(*FAST, "--market-seconds", "300")
    b = virtuoso(*FAST, "--market-seconds", "300")
    assert a.returncode == b.returncode == 0
    assert a.stdout == b.stdout
    c = virtuoso("--no-ui", "--speed", "0", "--seed", "4", "--db", "", "--market-seconds", "300")
    assert c.stdout != a.stdout


def test_text_format_is_readable():
    out = virtuoso(*FAST, "--market-seconds", "180", "--format", "text")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert any(line.startswith("candle BTC/USDT:USDT 1m ") for line in lines)
    assert not any(line.startswith("{") for line in lines)


def test_sigterm_stops_cleanly_with_status_zero():
    proc = subprocess.Popen([sys.executable, "-m", "virtuoso_tui.cli", "--no-ui", "--speed", "1", "--db", ""],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    time.sleep(3)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    last = records(stdout)[-1]
    assert last == {"type": "lifecycle", "state": "stopped", "reason": "signal SIGTERM"}


def test_duration_is_wall_clock():
    t0 = time.monotonic()
    out = virtuoso("--no-ui", "--speed", "1", "--db", "", "--duration", "2")
    elapsed = time.monotonic() - t0
    assert out.returncode == 0, out.stderr
    assert records(out.stdout)[-1]["reason"] == "duration reached"
    assert elapsed < 30


def test_config_error_is_one_sentence_and_status_two(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[prism.weights]\ntechnical = -0.5\n")
    out = virtuoso("--no-ui", "--config", str(bad), "--duration", "1")
    assert out.returncode == 2
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1
    assert str(bad) in lines[0] and "prism.weights.technical" in lines[0] and ":2" in lines[0]


def test_unknown_source_is_a_clear_error():
    out = virtuoso("--no-ui", "--source", "nasdaq", "--db", "", "--duration", "1")
    assert out.returncode == 2
    assert out.stderr.strip().startswith("virtuoso: unknown source 'nasdaq' (available: ")
    assert "sim" in out.stderr


@pytest.mark.parametrize("args", [("plugins",), ("config", "check")])
def test_info_commands_run(args):
    out = virtuoso(*args)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip()


def test_analyze_json_has_the_documented_shape_and_adds_up():
    out = virtuoso("analyze", "BTC/USDT:USDT", "--seed", "3", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert {"symbol", "confluence", "signal", "faces"} <= set(data)
    assert data["symbol"] == "BTC/USDT:USDT" and data["signal"] in ("LONG", "SHORT", "NEUTRAL")
    faces = data["faces"]
    assert set(faces) == {"technical", "volume", "orderflow", "orderbook", "price_structure", "sentiment"}
    for face in faces.values():
        assert {"score", "confidence", "components"} <= set(face)
        assert 0 <= face["score"] <= 100
        for comp in face["components"].values():
            assert {"score", "weight", "impact", "div", "raw"} <= set(comp)
    # the confluence is the confidence-shrunk weighted mean of the face scores, as its table prints
    w = {k: v["weight"] for k, v in faces.items()}
    shrunk = sum(w[k] * (50 + v["confidence"] * (v["score"] - 50)) for k, v in faces.items()) / sum(w.values())
    assert abs(shrunk - data["confluence"]) < 1e-9


def test_analyze_text_prints_the_div_table_and_bad_face_is_an_error():
    out = virtuoso("analyze", "BTC/USDT:USDT", "--seed", "3", "--face", "technical")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "Technical score contribution" in text
    assert "COMPONENT" in text and "IMPACT" in text and "FINAL SCORE" in text
    for comp in ("rsi", "macd", "ao", "williams_r", "cci"):
        assert comp in text
    bad = virtuoso("analyze", "BTC/USDT:USDT", "--face", "moon")
    assert bad.returncode == 2
    assert bad.stderr.strip() == ("virtuoso: unknown face 'moon' (faces: technical, volume, orderflow, orderbook, "
                                  "price_structure, sentiment)")


def test_text_format_prints_the_confluence_table_when_a_signal_changes_side(tmp_path):
    cfg = tmp_path / "v.toml"
    cfg.write_text("[prism.signal]\nlong_threshold = 52\nshort_threshold = 48\nhysteresis = 1\n")
    out = virtuoso("--no-ui", "--config", str(cfg), "--speed", "0", "--seed", "3", "--db", "",
                   "--market-seconds", "600", "--format", "text", "--events", "signal")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    tables = [i for i, line in enumerate(lines) if line.strip().endswith("Confluence")]
    assert tables, "no signal changed side in ten minutes with 52/48 thresholds"
    for i in tables:
        assert lines[i - 1].startswith("signal ")  # the one-line signal it explains
        block = "\n".join(lines[i:i + 12])
        assert "COMPONENT" in block and "CONFLUENCE" in block
    # unchanged signals stay one line each
    assert sum(1 for line in lines if line.startswith("signal ")) > len(tables)


def test_signal_records_show_a_pending_side_and_a_change_comes_only_after_confirm_s(tmp_path):
    cfg = tmp_path / "v.toml"
    cfg.write_text("[prism.signal]\nlong_threshold = 52\nshort_threshold = 48\nhysteresis = 1\nconfirm_s = 20\n")
    out = virtuoso("--no-ui", "--config", str(cfg), "--speed", "0", "--seed", "3", "--db", "",
                   "--market-seconds", "900", "--events", "signal")
    assert out.returncode == 0, out.stderr
    recs = [json.loads(line) for line in out.stdout.splitlines()]
    sigs = [r for r in recs if r["type"] == "signal"]
    last: dict[str, dict] = {}
    changes = 0
    for r in sigs:
        before = last.get(r["symbol"])
        if before is not None and before["side"] != r["side"]:
            changes += 1
            # the new side was pending on the record before, for almost the whole wait
            assert before["pending"]["side"] == r["side"] and before["pending"]["needed_s"] == 20.0
            assert before["pending"]["held_s"] < 20.0 and r["pending"] is None
        if r["pending"] is not None:
            assert r["pending"]["side"] != r["side"] and 0.0 <= r["pending"]["held_s"] < 20.0
        last[r["symbol"]] = r
    assert changes >= 1, "no side change in 15 minutes with 52/48 thresholds"
    from virtuoso_tui.headless import format_text

    waiting = next(r for r in sigs if r["pending"] is not None)
    left = waiting["pending"]["needed_s"] - waiting["pending"]["held_s"]
    assert f"(→{waiting['pending']['side']} in {left:.0f}s)" in format_text(waiting)
