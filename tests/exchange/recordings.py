"""Readers for the recorded exchange data in ../shared/data and the servers' reference books.

cryptofeed recordings: ws files hold inbound frames as `<unix_ts>: <json>` lines (other lines are the
connect header and outbound subscriptions); REST files hold `<url> -> <unix_ts>: <json>`. The Bybit
ob500 dump is one JSON message per line. `ReferenceBook` is the servers' own plain-dict book, written
independently of virtuoso_streams.localbook so tests compare two implementations, not one with itself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlparse

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
WS = DATA / "ws"
PAYLOADS = DATA / "exchange-payloads"

BINANCE_SPOT_WS = WS / "binance" / "cryptofeed" / "BINANCE.ws.1.0"
BINANCE_FUTURES_WS = WS / "binance" / "cryptofeed" / "BINANCE_FUTURES.ws.1.0"
BINANCE_SPOT_HTTP = PAYLOADS / "binance" / "cryptofeed" / "BINANCE.http.0.0"
BINANCE_FUTURES_HTTP = PAYLOADS / "binance" / "cryptofeed" / "BINANCE_FUTURES.http.0.0"
BYBIT_OB500 = DATA / "orderbook" / "nautilus" / "bybit_2024-12-01_XRPUSDT_ob500.data"


@dataclass(frozen=True)
class Frame:
    ts: float  # local receive time of the recording, unix seconds
    stream: str  # Binance stream name or Bybit topic
    raw: str  # the exact JSON text the exchange sent
    msg: dict


def read_ws_frames(path: Path) -> list[Frame]:
    """Inbound frames of a cryptofeed ws recording, in recorded order."""
    frames = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line[:1].isdigit():
                continue  # the connect header and our own outbound frames
            ts, raw = line.rstrip("\n").split(": ", 1)
            msg = json.loads(raw)
            frames.append(Frame(float(ts), msg.get("stream") or msg.get("topic", ""), raw, msg))
    return frames


def read_rest_snapshots(path: Path) -> dict[str, dict]:
    """Binance depth snapshots of a cryptofeed REST recording, by venue symbol (e.g. NKNUSDT)."""
    out = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if " -> " not in line:
                continue
            url, rest = line.split(" -> ", 1)
            _, body = rest.split(": ", 1)
            sym = parse_qs(urlparse(url).query)["symbol"][0]
            out[sym] = json.loads(body)
    return out


def read_json_lines(path: Path) -> list[Frame]:
    frames = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                msg = json.loads(line)
                frames.append(Frame(msg.get("ts", 0) / 1000.0, msg.get("topic", ""), line.strip(), msg))
    return frames


def read_message_list(path: Path) -> list[Frame]:
    """A JSON array of raw exchange messages (the tardis-node / nautilus derived files)."""
    msgs = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(msgs, dict):
        msgs = [msgs]
    return [Frame(0.0, m.get("stream") or m.get("topic", ""), json.dumps(m), m) for m in msgs]


def fmt(x: float) -> str:
    return repr(float(x))


class ReferenceBook:
    """A plain dict L2 book: price -> size per side, size 0 deletes. Sequence is the venue's id."""

    def __init__(self, bids=(), asks=(), sequence: int | None = None) -> None:
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        self.sequence = sequence
        self.update(bids, asks)

    def update(self, bids, asks) -> None:
        for side, levels in ((self.bids, bids), (self.asks, asks)):
            for p, s in levels:
                p, s = float(p), float(s)
                if s == 0.0:
                    side.pop(p, None)
                else:
                    side[p] = s

    def copy(self) -> ReferenceBook:
        b = ReferenceBook(sequence=self.sequence)
        b.bids, b.asks = dict(self.bids), dict(self.asks)
        return b

    def levels(self) -> tuple[list[list[str]], list[list[str]]]:
        bids = [[fmt(p), fmt(self.bids[p])] for p in sorted(self.bids, reverse=True)]
        asks = [[fmt(p), fmt(self.asks[p])] for p in sorted(self.asks)]
        return bids, asks

    @property
    def crossed(self) -> bool:
        return bool(self.bids and self.asks and max(self.bids) >= min(self.asks))


def binance_reference(frames: list[Frame], snapshots: dict[str, dict], futures: bool) -> dict[str, ReferenceBook]:
    """The straightforward replay: each symbol's REST snapshot, then every recorded diff whose final
    id is past the snapshot, in order. Checks the recording's own continuity on the way."""
    books = {s: ReferenceBook(v["bids"], v["asks"], v["lastUpdateId"]) for s, v in snapshots.items()}
    for f in frames:
        d = f.msg.get("data", {})
        if d.get("e") != "depthUpdate" or d["s"] not in books:
            continue
        book = books[d["s"]]
        if d["u"] <= book.sequence:
            continue
        book.update(d["b"], d["a"])
        book.sequence = d["u"]
    return books
