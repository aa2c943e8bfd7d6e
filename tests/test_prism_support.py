"""Markets for the prism tests and bench: real candles, trades, book and funding from ../shared/data,
plus generated open interest, long/short and liquidations (no real series of those exists there),
with the two transforms the properties need: scale (prices and sizes ×k) and mirror (p -> C/p).

A `Market` is plain numpy arrays; `.state()` feeds them as model records into a real MarketState.
No tests live here (pytest collects the module and finds none).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

from virtuoso_tui.market.state import MarketState
from virtuoso_tui.model.market import (
    BookSnapshot,
    Candle,
    Funding,
    Liquidation,
    LongShortRatio,
    OpenInterest,
    Trade,
    timeframe_ms,
)

DATA = Path(__file__).parents[1].parent / "shared" / "data"
SPOT = DATA / "ohlcv" / "binance-spot-2024"
TIMEFRAMES = ("1m", "5m", "15m", "4h")
BLEND = {"4h": 0.40, "15m": 0.35, "5m": 0.25}
SYMBOL = "BTC/USDT:USDT"
MINUTE = 60_000


@cache
def real_candles(tf: str) -> dict[str, np.ndarray]:
    df = pd.read_feather(SPOT / f"BTC_USDT-{tf}.feather")
    ts = df["date"].astype("int64").to_numpy()
    ts = ts // 1_000_000 if ts[0] > 10**14 else ts  # ns -> ms when the column is ns
    return {"ts": ts, **{c: df[c].to_numpy(np.float64) for c in ("open", "high", "low", "close", "volume")}}


@cache
def real_minutes() -> dict[str, np.ndarray]:
    """Real BTC perpetual 1m candles (nautilus sample, 2022); the 2024 spot set has no 1m file."""
    df = pd.read_csv(DATA / "ohlcv" / "nautilus" / "btc-perp-20211231-20220201_1m.csv")
    return {c: df[c].to_numpy(np.float64) for c in ("open", "high", "low", "close", "volume")}


@cache
def real_trades() -> dict[str, np.ndarray]:
    df = pd.read_feather(DATA / "trades" / "freqtrade" / "XRP_ETH-trades.feather")
    side = np.where(df["side"].to_numpy() == "buy", 1, -1).astype(np.int64)
    return {"ts": df["timestamp"].to_numpy(np.int64), "price": df["price"].to_numpy(np.float64),
            "amount": df["amount"].to_numpy(np.float64), "side": side}


@cache
def real_book() -> tuple[np.ndarray, np.ndarray]:
    """The first message (a snapshot) of the real Bybit XRPUSDT orderbook.500 dump."""
    with open(DATA / "orderbook" / "nautilus" / "bybit_2024-12-01_XRPUSDT_ob500.data") as fh:
        data = json.loads(fh.readline())["data"]
    bids = np.array(data["b"], dtype=np.float64)
    asks = np.array(data["a"], dtype=np.float64)
    return bids[np.argsort(-bids[:, 0])], asks[np.argsort(asks[:, 0])]


@cache
def real_funding() -> dict[str, np.ndarray]:
    df = pd.read_feather(DATA / "derivatives" / "binance-usdm-futures" / "BTC_USDT_USDT-1h-funding_rate.feather")
    ts = df["date"].astype("int64").to_numpy()
    ts = ts // 1_000_000 if ts[0] > 10**14 else ts
    return {"ts": ts, "rate": df["open"].to_numpy(np.float64)}


@dataclass(frozen=True)
class Market:
    candles: dict[str, dict[str, np.ndarray]]
    trades: dict[str, np.ndarray] | None
    bids: np.ndarray | None
    asks: np.ndarray | None
    funding: dict[str, np.ndarray] | None
    oi: dict[str, np.ndarray] | None
    long_short: dict[str, np.ndarray] | None
    liquidations: dict[str, np.ndarray] | None
    end: int

    def scaled(self, k: float) -> Market:
        """Prices ×k and sizes ×k (funding and the long/short ratio are unit-free and stay)."""
        candles = {tf: {**c, **{f: c[f] * k for f in ("open", "high", "low", "close", "volume", "buy_volume")}}
                   for tf, c in self.candles.items()}
        trades = None if self.trades is None else {**self.trades, "price": self.trades["price"] * k, "amount": self.trades["amount"] * k}
        oi = None if self.oi is None else {**self.oi, "amount": self.oi["amount"] * k}
        liq = None if self.liquidations is None else {**self.liquidations, "price": self.liquidations["price"] * k,
                                                      "amount": self.liquidations["amount"] * k}
        return replace(self, candles=candles, trades=trades, oi=oi, liquidations=liq,
                       bids=None if self.bids is None else self.bids * k, asks=None if self.asks is None else self.asks * k)

    def mirrored(self, c: float = 1e6) -> Market:
        """The market seen from the other currency: p -> c/p (high <-> low), buys <-> sells, bids <-> asks,
        funding negated, long/short inverted, liquidation sides swapped. Open interest stays: every
        contract has a long and a short side, so OI (and its changes) has no direction to mirror."""
        candles = {tf: {"ts": x["ts"], "open": c / x["open"], "high": c / x["low"], "low": c / x["high"],
                        "close": c / x["close"], "volume": x["volume"], "buy_volume": x["volume"] - x["buy_volume"]}
                   for tf, x in self.candles.items()}
        trades = None if self.trades is None else {**self.trades, "price": c / self.trades["price"], "side": -self.trades["side"]}
        bids = None if self.asks is None else np.column_stack((c / self.asks[:, 0], self.asks[:, 1]))
        asks = None if self.bids is None else np.column_stack((c / self.bids[:, 0], self.bids[:, 1]))
        funding = None if self.funding is None else {**self.funding, "rate": -self.funding["rate"]}
        ls = None if self.long_short is None else {**self.long_short, "ratio": 1.0 / self.long_short["ratio"]}
        liq = None if self.liquidations is None else {**self.liquidations, "side": -self.liquidations["side"],
                                                      "price": c / self.liquidations["price"]}
        return replace(self, candles=candles, trades=trades, bids=bids, asks=asks, funding=funding,
                       long_short=ls, liquidations=liq)

    def without(self, kind: str) -> Market:
        field = {"trades": "trades", "book": "bids", "funding": "funding", "open_interest": "oi",
                 "long_short": "long_short", "liquidations": "liquidations"}[kind]
        out = replace(self, **{field: None})
        return replace(out, asks=None) if kind == "book" else out

    def events(self) -> list:
        ev: list = []
        for tf, c in self.candles.items():
            for i in range(c["ts"].shape[0]):
                ev.append(Candle(SYMBOL, tf, int(c["ts"][i]), float(c["open"][i]), float(c["high"][i]), float(c["low"][i]),
                                 float(c["close"][i]), float(c["volume"][i]), float(c["buy_volume"][i])))
        if self.funding is not None:
            ev += [Funding(SYMBOL, int(t), float(r)) for t, r in zip(self.funding["ts"], self.funding["rate"], strict=True)]
        if self.oi is not None:
            ev += [OpenInterest(SYMBOL, int(t), float(a)) for t, a in zip(self.oi["ts"], self.oi["amount"], strict=True)]
        if self.long_short is not None:
            ev += [LongShortRatio(SYMBOL, int(t), float(r)) for t, r in zip(self.long_short["ts"], self.long_short["ratio"], strict=True)]
        if self.liquidations is not None:
            x = self.liquidations
            ev += [Liquidation(SYMBOL, int(t), "buy" if s > 0 else "sell", float(p), float(a))
                   for t, s, p, a in zip(x["ts"], x["side"], x["price"], x["amount"], strict=True)]
        if self.trades is not None:
            x = self.trades
            sides = {1: "buy", -1: "sell", 0: None}
            ev += [Trade(SYMBOL, int(t), float(p), float(a), sides[int(s)])
                   for t, p, a, s in zip(x["ts"], x["price"], x["amount"], x["side"], strict=True)]
        if self.bids is not None:
            ev.append(BookSnapshot(SYMBOL, self.end, tuple(map(tuple, self.bids.tolist())), tuple(map(tuple, self.asks.tolist())), 1))
        return ev

    def state(self, capacity: int = 1000) -> MarketState:
        state = MarketState(SYMBOL, TIMEFRAMES, capacity=capacity)
        for e in self.events():
            state.apply(e)
        return state


def market(seed: int, n: dict[str, int] | None = None, trades: int = 3000, levels: int = 50) -> Market:
    """A market ending at a point of the 2024 BTC data chosen by `seed`: real 5m/15m/4h candles (generated
    taker-buy shares), real XRP/ETH trade sizes and sides re-priced to BTC, the real BTCUSDT depth
    snapshot re-centred, real funding history, generated OI / long-short / liquidations."""
    rng = np.random.default_rng(seed)
    n = n or {"5m": 200, "15m": 120, "4h": 60}
    four = real_candles("4h")
    end_i = int(rng.integers(max(n.values()) + 10, four["ts"].shape[0] - 2))
    end = int(four["ts"][end_i] + timeframe_ms("4h"))
    candles = {}
    for tf, k in n.items():
        if tf == "1m":
            continue
        c = real_candles(tf)
        stop = int(np.searchsorted(c["ts"], end - timeframe_ms(tf), side="right"))
        sl = slice(stop - k, stop)
        vol = c["volume"][sl]
        candles[tf] = {"ts": c["ts"][sl], "open": c["open"][sl], "high": c["high"][sl], "low": c["low"][sl],
                       "close": c["close"][sl], "volume": vol, "buy_volume": vol * rng.uniform(0.3, 0.7, k)}
    last = float(candles[min((tf for tf in n if tf != "1m"), key=timeframe_ms)]["close"][-1])
    if "1m" in n:  # real 1m candles from another period, re-timed to end at `end` and re-priced
        k = n["1m"]
        mm = real_minutes()
        at = int(rng.integers(k, mm["close"].shape[0]))
        scale = last / mm["close"][at - 1]
        vol = mm["volume"][at - k:at] / mm["close"][at - k:at]  # the file's volume is quote volume
        candles["1m"] = {"ts": end - MINUTE * np.arange(k, 0, -1), **{f: mm[f][at - k:at] * scale for f in ("open", "high", "low", "close")},
                         "volume": vol, "buy_volume": vol * rng.uniform(0.3, 0.7, k)}
    rt = real_trades()
    start = int(rng.integers(0, rt["ts"].shape[0] - trades))
    sl = slice(start, start + trades)
    tts = rt["ts"][sl] - rt["ts"][sl][0]
    tts = end + (tts * (30 * MINUTE) // max(1, int(tts[-1])))
    tr = {"ts": tts, "price": rt["price"][sl] * (last / rt["price"][sl][-1]), "amount": rt["amount"][sl], "side": rt["side"][sl]}
    bids, asks = real_book()
    shift = last / (0.5 * (bids[0, 0] + asks[0, 0]))
    bids, asks = bids[:levels] * [shift, 1.0], asks[:levels] * [shift, 1.0]
    fund = real_funding()
    fi = int(np.searchsorted(fund["ts"], end))
    funding = {"ts": fund["ts"][max(0, fi - 40):fi], "rate": fund["rate"][max(0, fi - 40):fi]}
    oi_ts = end + np.arange(0, 30, 2) * MINUTE + MINUTE
    oi = {"ts": oi_ts, "amount": 5e4 * np.exp(np.cumsum(rng.normal(0, 0.01, oi_ts.shape[0])))}
    ls_ts = end - np.arange(24, 0, -1) * 5 * MINUTE
    ls = {"ts": ls_ts, "ratio": np.exp(np.cumsum(rng.normal(0, 0.05, ls_ts.shape[0])) + rng.normal(0, 0.3))}
    q = int(rng.integers(3, 15))
    liq = {"ts": np.sort(end + rng.integers(0, 30 * MINUTE, q)), "side": rng.choice([-1.0, 1.0], q),
           "price": last * np.exp(rng.normal(0, 0.002, q)), "amount": rng.exponential(1.0, q)}
    return Market(candles, tr, bids, asks, funding, oi, ls, liq, end)


def generated_market(seed: int, flat_share: float = 0.1) -> Market:
    """A generated market with awkward data: random-walk candles where some bars are flat (high == low)
    or empty (zero volume), unknown-side trades, a thin book. Derivatives as in `market`."""
    rng = np.random.default_rng(seed)
    base = market(seed)
    candles = {}
    for tf, c in base.candles.items():
        k = c["ts"].shape[0]
        close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, k)))
        open_ = np.concatenate(([100.0], close[:-1]))
        span = np.abs(rng.normal(0, 0.005, k)) * close
        flat = rng.random(k) < flat_share
        span[flat] = 0.0
        close = np.where(flat, open_, close)
        high, low = np.maximum(open_, close) + span, np.minimum(open_, close) - span
        vol = np.where(rng.random(k) < flat_share, 0.0, rng.exponential(10.0, k))
        candles[tf] = {"ts": c["ts"], "open": open_, "high": high, "low": low, "close": close, "volume": vol,
                       "buy_volume": vol * rng.uniform(0, 1, k)}
    tr = dict(base.trades)
    tr["side"] = np.where(rng.random(tr["side"].shape[0]) < 0.2, 0, tr["side"])
    return replace(base, candles=candles, trades=tr, bids=base.bids[:5], asks=base.asks[:5])
