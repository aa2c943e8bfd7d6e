"""Tests of the simulated market (plugins/virtuoso_sim): registration, determinism, the statistical
shape of its prices, the consistency of its book with its trades, derivatives, and pacing.

The book is checked against an independent reference kept here (a dict per side fed the snapshots
and deltas), and candles against MarketState's own aggregation; the statistics use 1m closes built
from the trades with numpy.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pluggy
import pytest
import virtuoso_sim
from virtuoso_sim import SimMarket, SimSource, history
from virtuoso_sim.derivatives import funding_rate
from virtuoso_sim.profiles import (
    ACTIVITY,
    DEFAULT_START_TS,
    REGIME_TRANSITIONS,
    nice_floor,
    nice_round,
    profile_for,
)

from virtuoso_tui import PROJECT, hookspecs
from virtuoso_tui.market.source import Source, SourceError
from virtuoso_tui.model import (
    BookDelta,
    BookSnapshot,
    Funding,
    Liquidation,
    LongShortRatio,
    OpenInterest,
    Ticker,
    Trade,
)

BTC, ETH, SOL = "BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT"
ALL_KINDS = {"trades", "book", "candles", "ticker", "funding", "open_interest", "liquidations", "long_short"}
HOUR = 3600
EIGHT_AM = 1_767_571_200_000 + 8 * 3_600_000   # 2026-01-05 08:00 UTC


def _take(it, n):
    out = []
    for e in it:
        out.append(e)
        if len(out) == n:
            break
    return out


def _acf(x: np.ndarray, lag: int) -> float:
    x = x - x.mean()
    return float((x[:-lag] * x[lag:]).mean() / x.var())


# ------------------------------------------------------------------------------------------- plugin
def test_plugin_registers_sim_source_through_the_hook():
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(virtuoso_sim)
    pm.check_pending()
    sources = [cls for result in pm.hook.virtuoso_sources(config={}) for cls in result]
    assert sources == [SimSource]
    assert issubclass(SimSource, Source) and SimSource.name == "sim" and not SimSource.networked
    assert SimSource.provides == ALL_KINDS


# ------------------------------------------------------------------------------------- determinism
def test_same_seed_gives_identical_events_and_another_seed_does_not():
    args = dict(symbols=[BTC, ETH, SOL], seed=42)
    a = _take(SimMarket(**args).run(600), 20_000)
    b = _take(SimMarket(**args).run(600), 20_000)
    assert len(a) == 20_000 and a == b
    c = _take(SimMarket([BTC, ETH, SOL], seed=43).run(600), 20_000)
    assert a != c
    trades_a = [e.price for e in a if isinstance(e, Trade)][:500]
    trades_c = [e.price for e in c if isinstance(e, Trade)][:500]
    assert trades_a != trades_c


def test_a_symbol_path_does_not_depend_on_which_other_symbols_run():
    alone = [e for e in SimMarket([ETH], seed=5).run(120)]
    together = [e for e in SimMarket([BTC, ETH], seed=5).run(120) if e.symbol == ETH]
    assert alone == together


def test_events_are_in_timestamp_order_and_start_with_a_snapshot_per_symbol():
    events = list(SimMarket([BTC, ETH, "DOGE/USDT"], seed=3).run(90))
    ts = np.array([e.ts for e in events])
    assert np.all(np.diff(ts) >= 0)
    firsts = {}
    for e in events:
        firsts.setdefault(e.symbol, e)
    assert all(isinstance(e, BookSnapshot) for e in firsts.values())


# ----------------------------------------------------------------------------- statistical shape
@pytest.fixture(scope="module")
def six_hours():
    """Six hours of BTC and ETH (seed 11), reduced to arrays while streaming."""
    trades = defaultdict(list)
    liqs = defaultdict(list)
    fundings, ois, ratios = [], defaultdict(list), []
    for e in SimMarket([BTC, ETH], seed=11).run(6 * HOUR):
        kind = type(e)
        if kind is Trade:
            trades[e.symbol].append((e.ts, e.price, e.amount, 1.0 if e.side == "buy" else -1.0))
        elif kind is Liquidation:
            liqs[e.symbol].append((e.ts, 1.0 if e.side == "buy" else -1.0, e.amount))
        elif kind is Funding:
            fundings.append(e)
        elif kind is OpenInterest:
            ois[e.symbol].append((e.ts, e.amount))
        elif kind is LongShortRatio:
            ratios.append(e.ratio)
    return {
        "trades": {s: np.array(v) for s, v in trades.items()},
        "liqs": {s: np.array(v) for s, v in liqs.items()},
        "fundings": fundings, "ois": {s: np.array(v) for s, v in ois.items()}, "ratios": np.array(ratios),
    }


def _closes(trades: np.ndarray, period_ms: int) -> tuple[np.ndarray, np.ndarray]:
    """Last trade price per period (bucket start, close), buckets without trades left out."""
    bucket = trades[:, 0].astype(np.int64) // period_ms
    last = np.r_[np.nonzero(np.diff(bucket))[0], len(bucket) - 1]
    return bucket[last], trades[last, 1]


def test_one_minute_returns_have_fat_tails_and_volatility_clustering(six_hours):
    _, close = _closes(six_hours["trades"][BTC], 60_000)
    r = np.diff(np.log(close))
    assert len(r) > 350
    excess_kurtosis = ((r - r.mean()) ** 4).mean() / r.var() ** 2 - 3.0
    assert excess_kurtosis > 0.5
    abs_acf = [_acf(np.abs(r), lag) for lag in range(1, 6)]
    sq_acf = [_acf(r * r, lag) for lag in range(1, 6)]
    raw_acf = [_acf(r, lag) for lag in range(1, 6)]
    assert all(a > 0.0 for a in abs_acf) and np.mean(abs_acf) > 0.08, abs_acf
    assert np.mean(sq_acf) > 0.03, sq_acf
    # Returns themselves are close to unpredictable (2.5 standard errors at n ~ 360 is ~0.13).
    assert max(abs(a) for a in raw_acf) < 0.15, raw_acf
    # One-minute volatility of BTC near its 50% annual design level (0.069%/min), within a factor 2.
    assert 0.00035 < r.std() < 0.0014


def test_eth_follows_btc_with_beta_and_its_own_noise(six_hours):
    bb, cb = _closes(six_hours["trades"][BTC], 60_000)
    be, ce = _closes(six_hours["trades"][ETH], 60_000)
    common, ib, ie = np.intersect1d(bb, be, return_indices=True)
    rb, re_ = np.diff(np.log(cb[ib])), np.diff(np.log(ce[ie]))
    corr = np.corrcoef(rb, re_)[0, 1]
    assert 0.5 < corr < 0.97
    beta = np.cov(rb, re_)[0, 1] / rb.var()
    assert 0.8 < beta < 1.5


def test_order_flow_leads_price(six_hours):
    """Signed taker volume in one second predicts the next second's return (informed flow), and
    explains much of its own second's return (impact)."""
    t = six_hours["trades"][BTC]
    sec = t[:, 0].astype(np.int64) // 1000
    first = sec[0]
    n = int(sec[-1] - first) + 1
    flow = np.bincount(sec - first, weights=t[:, 2] * t[:, 3], minlength=n)
    last_price = np.full(n, np.nan)
    last_price[sec - first] = t[:, 1]           # later trades of a second overwrite earlier ones
    r = np.diff(np.log(_ffill(last_price)))     # r[k]: from the end of second k to the end of k + 1
    lead = np.corrcoef(flow[:-1], r)[0, 1]
    same = np.corrcoef(flow[1:], r)[0, 1]
    assert lead > 0.03, lead
    assert same > 0.2, same


def _ffill(x: np.ndarray) -> np.ndarray:
    idx = np.where(np.isnan(x), 0, np.arange(len(x)))
    np.maximum.accumulate(idx, out=idx)
    return x[idx]


def _seconds_move30(trades: np.ndarray) -> tuple[int, np.ndarray]:
    """(first second, log move over the 30 s ending at each second) from the last trade per second."""
    sec = trades[:, 0].astype(np.int64) // 1000
    first = int(sec[0])
    n = int(sec[-1] - first) + 1
    price = np.full(n, np.nan)
    price[sec - first] = trades[:, 1]
    price = _ffill(price)
    move30 = np.zeros(n)
    move30[30:] = np.log(price[30:] / price[:-30])
    return first, move30


def test_liquidations_cluster_on_large_moves_on_the_side_that_is_squeezed(six_hours):
    moves, agree, bunched = [], [], []
    for sym in (BTC, ETH):
        liq = six_hours["liqs"].get(sym)
        if liq is None or len(liq) < 3:
            continue
        first, move30 = _seconds_move30(six_hours["trades"][sym])
        at = np.clip(liq[:, 0].astype(np.int64) // 1000 - first - 1, 0, len(move30) - 1)
        moves.append(np.abs(move30[at]) / np.median(np.abs(move30[30:])))
        # Longs are sold into dumps, shorts bought into squeezes.
        agree.append(np.sign(move30[at]) == liq[:, 1])
        # Bursts: the typical gap between liquidations is far below the average gap (given enough).
        if len(liq) >= 10:
            gaps = np.diff(np.sort(liq[:, 0]))
            bunched.append(np.median(gaps) < 0.1 * (6 * HOUR * 1000 / len(liq)))
    assert moves, "no liquidations in six hours"
    assert np.median(np.concatenate(moves)) > 3.0
    assert np.concatenate(agree).mean() > 0.8
    assert bunched and all(bunched)


def test_funding_bounded_open_interest_and_long_short_plausible(six_hours):
    rates = np.array([f.rate for f in six_hours["fundings"]])
    assert np.all(np.abs(rates) <= 0.0075)
    assert rates.std() > 0                                       # it follows the premium, not a constant
    assert not any(f.settled for f in six_hours["fundings"])     # 00:00-06:00 holds no 8 h mark but the start
    for f in six_hours["fundings"]:
        assert f.next_funding_ts == EIGHT_AM and f.mark > 0
    for sym, oi in six_hours["ois"].items():
        base = oi[0, 1]
        assert np.all(oi[:, 1] > 0.2 * base) and np.all(oi[:, 1] < 3 * base), sym
    ratios = six_hours["ratios"]
    assert np.all((ratios > 0.3) & (ratios < 4.0)) and ratios.std() > 0.01


def test_funding_settles_exactly_at_the_eight_hour_mark():
    events = list(SimMarket([BTC, "ETH/USDT"], seed=2, start_ts=EIGHT_AM - 120_000).run(240))
    funding = [e for e in events if isinstance(e, Funding)]
    settled = [f for f in funding if f.settled]
    assert [f.ts for f in settled] == [EIGHT_AM]
    assert settled[0].next_funding_ts == EIGHT_AM + 8 * 3_600_000
    assert all(f.next_funding_ts == EIGHT_AM for f in funding if f.ts < EIGHT_AM)
    # The spot symbol has no derivatives: missing is missing.
    spot = [e for e in events if e.symbol == "ETH/USDT"]
    assert not any(isinstance(e, Funding | OpenInterest | Liquidation | LongShortRatio) for e in spot)
    assert any(isinstance(e, Trade) for e in spot)


@pytest.mark.parametrize("premium, rate", [
    (0.0, 0.0001), (0.0003, 0.0002), (-0.0003, -0.0002), (0.00015, 0.0001), (0.05, 0.0075), (-0.05, -0.0075),
])
def test_funding_formula_hand_worked(premium, rate):
    assert funding_rate(premium) == pytest.approx(rate, abs=1e-12)


# ------------------------------------------------------------------------------ book and trades
class _RefBook:
    """Independent reference: one dict per side, fed exactly what a consumer receives."""

    def __init__(self) -> None:
        self.bids: dict[float, float] = {}
        self.asks: dict[float, float] = {}
        self.seq: int | None = None
        self.consumed: dict[tuple[str, float], float] = defaultdict(float)

    def snapshot(self, s: BookSnapshot) -> None:
        assert self.seq is None or s.sequence == self.seq, "snapshot sequence disagrees with the deltas"
        if self.seq is not None:  # a periodic snapshot must equal the book the deltas built
            assert dict(s.bids) == self.bids and dict(s.asks) == self.asks
        self.bids, self.asks, self.seq = dict(s.bids), dict(s.asks), s.sequence
        self.consumed.clear()

    def delta(self, d: BookDelta) -> None:
        assert d.prev_sequence == self.seq and d.sequence == self.seq + 1
        self.seq = d.sequence
        for side, levels in ((self.bids, d.bids), (self.asks, d.asks)):
            for price, size in levels:
                if size > 0:
                    side[price] = size
                else:
                    assert price in side, "a delete of a level that is not there"
                    del side[price]
        self.consumed.clear()

    @property
    def best_bid(self) -> float:
        return max(self.bids)

    @property
    def best_ask(self) -> float:
        return min(self.asks)


def test_book_and_trades_agree_never_crossed_and_sequence_continuous():
    levels = 30
    market = SimMarket([BTC, ETH, SOL], seed=9, book_levels=levels)
    books = defaultdict(_RefBook)
    last_trade: dict[str, float] = {}
    n_trades = n_deltas = 0
    for e in market.run(900):
        book = books[e.symbol]
        kind = type(e)
        if kind is BookSnapshot:
            book.snapshot(e)
            assert len(e.bids) == len(e.asks) == levels
        elif kind is BookDelta:
            book.delta(e)
            n_deltas += 1
            assert book.best_bid < book.best_ask, "crossed book"
            assert len(book.bids) == len(book.asks) == levels
        elif kind is Trade:
            n_trades += 1
            side = book.asks if e.side == "buy" else book.bids
            if e.side == "buy":
                assert e.price >= book.best_ask
            else:
                assert e.price <= book.best_bid
            # The trade took liquidity that was resting at that price, never more than was there.
            book.consumed[(e.side, e.price)] += e.amount
            assert book.consumed[(e.side, e.price)] <= side[e.price] * (1 + 1e-9)
            last_trade[e.symbol] = e.price
        elif kind is Ticker:
            assert e.bid == book.best_bid and e.ask == book.best_ask
            if e.symbol in last_trade:
                assert e.last == last_trade[e.symbol]
            assert e.low_24h <= e.last <= e.high_24h
    for sym in (BTC, ETH, SOL):
        tick = profile_for(sym).tick
        prices = np.array(list(books[sym].bids) + list(books[sym].asks))
        assert np.allclose(np.round(prices / tick) * tick, prices, rtol=0, atol=tick * 1e-6)
    # Event rates per symbol and real second (design: a few to ~20 trades/s, ~10 deltas/s).
    assert 2 < n_trades / 3 / 900 < 30
    assert 4 < n_deltas / 3 / 900 <= 10


def test_market_state_builds_the_same_candles_as_the_trades_and_keeps_a_valid_book():
    state_mod = pytest.importorskip("virtuoso_tui.market.state")
    state = state_mod.MarketState(SOL, timeframes=("1m", "5m"))
    trades = []
    for e in SimMarket([SOL], seed=4).run(31 * 60):
        state.apply(e)
        if isinstance(e, BookDelta):
            assert state.book.valid, state.book.reason
        elif isinstance(e, Trade):
            trades.append((e.ts, e.price, e.amount, e.amount if e.side == "buy" else 0.0))
    state.advance(state.now + 60_000)
    t = np.array(trades)
    minute = t[:, 0].astype(np.int64) // 60_000 * 60_000
    c = state.candles["1m"]
    assert len(c) >= 29
    for k, ts in enumerate(c.ts):
        rows = t[minute == ts]
        assert c.open[k] == rows[0, 1] and c.close[k] == rows[-1, 1]
        assert c.high[k] == rows[:, 1].max() and c.low[k] == rows[:, 1].min()
        assert c.volume[k] == pytest.approx(rows[:, 2].sum(), rel=1e-12)
        assert c.buy_volume[k] == pytest.approx(rows[:, 3].sum(), rel=1e-12)
    assert state.book.best_bid < state.book.best_ask and state.has("funding") and state.has("long_short")


# -------------------------------------------------------------------------------- market shape
def test_intraday_rhythm_and_regime_chain():
    assert ACTIVITY.mean() == pytest.approx(1.0)
    hour = lambda h: ACTIVITY[h * 60:(h + 1) * 60].mean()  # noqa: E731
    assert hour(14) > 1.5 * hour(5) and hour(0) > hour(5) and hour(8) > hour(11) * 0.9
    assert np.allclose(REGIME_TRANSITIONS.sum(axis=1), 1.0)
    day = 1_767_571_200_000
    busy = sum(isinstance(e, Trade) for e in SimMarket([BTC], seed=8, start_ts=day + 14 * 3_600_000).run(300))
    quiet = sum(isinstance(e, Trade) for e in SimMarket([BTC], seed=8, start_ts=day + 5 * 3_600_000).run(300))
    assert busy > 1.3 * quiet


def test_profiles_default_prices_and_nice_steps():
    assert profile_for(BTC).price == 65_000 and profile_for(ETH).price == 3_400 and profile_for(SOL).price == 150
    assert profile_for("PEPE/USDT:USDT") == profile_for("PEPE/USDT:USDT")
    assert profile_for(BTC, 70_000.0).price == 70_000
    assert nice_floor(0.61) == 0.5 and nice_floor(187.0) == 100 and nice_floor(0.0024) == 0.002
    assert nice_round(0.043) == 0.05 and nice_round(0.61) == 0.5 and nice_round(3.0) == 2.0
    first = next(iter(SimMarket([BTC], prices={BTC: 70_000.0}).run(1)))
    assert 69_900 < first.bids[0][0] < 70_100


# ---------------------------------------------------------------------------------- the source
@pytest.mark.parametrize("options, words", [
    ({"speed": -1}, "speed"),
    ({"seed": "x"}, "seed"),
    ({"book_levels": 2}, "book_levels"),
    ({"colour": 1}, "unknown option"),
    ({"prices": {BTC: -5}}, "start price"),
    ({"prices": {"XRP/USDT": 1.0}}, "not among the symbols"),
    ({"duration_s": "long"}, "duration_s"),
    ({"warmup_s": -5}, "warmup_s"),
])
def test_bad_options_give_one_clear_error(options, words):
    with pytest.raises(SourceError, match=words):
        SimSource([BTC], options)


def test_run_refuses_a_bad_duration_at_the_call():
    market = SimMarket([BTC])
    for bad in (-1, float("nan"), "60", True):
        with pytest.raises(ValueError, match="seconds"):
            market.run(bad)


def test_bad_symbols_are_refused():
    with pytest.raises(SourceError, match="ccxt unified"):
        SimSource(["BTCUSDT"], {})
    with pytest.raises(SourceError, match="non-empty"):
        SimSource([], {})


async def test_speed_zero_never_sleeps(monkeypatch):
    import virtuoso_sim.source as source_mod

    sleeps = []
    real_sleep = asyncio.sleep

    async def spy(delay, *a, **k):
        sleeps.append(delay)
        await real_sleep(0)

    monkeypatch.setattr(source_mod.asyncio, "sleep", spy)
    src = SimSource([BTC, ETH], {"speed": 0, "duration_s": 120, "seed": 3})
    t0 = time.monotonic()
    events = [e async for e in src.events()]
    assert time.monotonic() - t0 < 10
    assert len(events) > 2_000 and all(d == 0 for d in sleeps)
    # The async stream is the sync market, paced: same records after the health report.
    assert events[1:] == list(SimMarket([BTC, ETH], seed=3).run(120))
    await src.close()


async def test_speed_one_paces_to_the_wall_clock():
    src = SimSource([BTC], {"speed": 1.0, "duration_s": 1})
    t0 = time.monotonic()
    events = [e async for e in src.events()]
    elapsed = time.monotonic() - t0
    assert elapsed >= 0.5
    assert events[-1].ts - events[1].ts > 800


async def test_warmup_is_yielded_at_once_then_paced():
    src = SimSource([BTC], {"speed": 1.0, "warmup_s": 60, "duration_s": 60.6})
    t0 = time.monotonic()
    events = [e async for e in src.events()]
    elapsed = time.monotonic() - t0
    assert 0.3 <= elapsed < 2.0
    assert events[-1].ts - events[1].ts >= 60_000


async def test_speed_ten_is_ten_times_faster_than_real_time():
    src = SimSource([BTC], {"speed": 10.0, "duration_s": 5})
    t0 = time.monotonic()
    n = len([e async for e in src.events()])
    elapsed = time.monotonic() - t0
    assert 0.25 <= elapsed < 2.5 and n > 50


async def test_close_stops_the_stream_and_history_continues_it():
    src = SimSource([BTC], {"speed": 0})
    warm = list(src.history(60))
    assert warm and warm[-1].ts < src.market.now
    seen = 0
    async for e in src.events():
        seen += 1
        if seen == 100:
            await src.close()
        if seen > 1:
            assert e.ts >= warm[-1].ts
    assert seen == 100                       # nothing after close()


def test_generating_an_hour_of_three_symbols_is_fast():
    t0 = time.perf_counter()
    n = sum(1 for _ in SimMarket([BTC, ETH, SOL], seed=1).run(HOUR))
    elapsed = time.perf_counter() - t0
    assert n > 100_000
    assert elapsed < 8.0, f"{elapsed:.2f} s for {n} events"       # ~1.3-2.4 s on a shared 2-core machine
    assert math.isfinite(n / elapsed)


def test_near_touch_book_imbalance_leans_toward_the_next_move():
    """Makers who foresee a move rest more size on its side: the top-5 imbalance at each second
    correlates with the next second's mid change (a signal, not a certainty)."""
    book = _RefBook()
    imbalance, mids = [], []
    for e in SimMarket([BTC], seed=2).run(1800):
        kind = type(e)
        if kind is BookSnapshot:
            book.snapshot(e)
        elif kind is BookDelta:
            book.delta(e)
        elif kind is Ticker:
            bids = sorted(book.bids, reverse=True)[:5]
            asks = sorted(book.asks)[:5]
            b, a = sum(book.bids[p] for p in bids), sum(book.asks[p] for p in asks)
            imbalance.append((b - a) / (b + a))
            mids.append((e.bid + e.ask) / 2)
    r = np.diff(np.log(mids))
    corr = np.corrcoef(imbalance[:-1], r)[0, 1]
    assert 0.03 < corr < 0.5, corr


# ------------------------------------------------------------------------- model pieces, one by one
def test_regimes_set_drift_and_volatility_of_the_market_factor():
    from virtuoso_sim.latent import MarketFactor
    from virtuoso_sim.profiles import DEFAULT_START_TS, HIGH_VOL, RANGE, TREND_DOWN, TREND_UP

    factor = MarketFactor(np.random.default_rng([21, 0]))
    by_regime = defaultdict(list)
    for k in range(4 * 1440):                                   # four days of minutes, latent only
        r = factor.next_minute(DEFAULT_START_TS + k * 60_000)
        by_regime[factor.regime].append(r.sum())
    assert set(by_regime) == {RANGE, TREND_UP, TREND_DOWN, HIGH_VOL}
    mean = {k: np.mean(v) for k, v in by_regime.items()}
    sd = {k: np.std(v) for k, v in by_regime.items()}
    assert mean[TREND_UP] > 0 > mean[TREND_DOWN]
    assert sd[HIGH_VOL] > 1.5 * sd[RANGE]


def test_spread_widens_and_depth_thins_when_volatile():
    from virtuoso_sim.book import SymbolBook

    book = SymbolBook(profile_for(BTC), np.random.default_rng(1), 50)
    flat = np.zeros(600)
    book.prepare_minute(0.0, flat, 1.0, 0.5)
    calm_spread, calm_q = book.half_spread, book.q
    book.prepare_minute(0.0, flat, 2.5, 0.5)
    assert book.half_spread > 1.5 * calm_spread and book.q < calm_q


def test_open_interest_builds_in_trends_and_is_cut_by_liquidations():
    from virtuoso_sim.derivatives import PerpDesk
    from virtuoso_sim.profiles import RANGE, TREND_UP

    p = profile_for(BTC)
    ranging, trend, cascade = (PerpDesk(p, np.random.default_rng(3)) for _ in range(3))
    for _ in range(600):                                        # ten minutes, 2 BTC traded a second
        ranging.second(p.price, p.price, RANGE, 2.0, 0.0)
        trend.second(p.price, p.price, TREND_UP, 2.0, 0.0)
        cascade.second(p.price, p.price, RANGE, 2.0, 1.0)       # and 1 BTC force-closed a second
    assert trend.open_interest > ranging.open_interest + 100
    # 600 BTC liquidated, less what the slow pull back toward the base level returns.
    assert ranging.open_interest - 600 < cascade.open_interest < ranging.open_interest - 450


def test_retail_long_short_leans_against_informed_flow():
    from virtuoso_sim.derivatives import PerpDesk

    p = profile_for(ETH)
    smart_buying, smart_selling = PerpDesk(p, np.random.default_rng(4)), PerpDesk(p, np.random.default_rng(4))
    for _ in range(30):
        smart_buying.minute(p.price, 10.0 * p.level_lots)
        smart_selling.minute(p.price, -10.0 * p.level_lots)
    assert smart_buying.long_short < 1.3 < smart_selling.long_short


def test_liquidations_are_triggered_by_a_sharp_fall_and_sell():
    from virtuoso_sim.derivatives import PerpDesk
    from virtuoso_sim.profiles import RANGE

    p = profile_for(BTC)
    desk = PerpDesk(p, np.random.default_rng(5))
    calm = [o for _ in range(31) for o in desk.second(p.price, p.price, RANGE, 1.0, 0.0)]
    assert calm == []
    crash = p.price * math.exp(-6 * p.step_sigma * math.sqrt(300))    # a 6-sd fall within 30 s
    orders = [o for _ in range(5) for o in desk.second(crash, crash, RANGE, 1.0, 0.0)]
    assert orders and all(side == "sell" and lots > 0 and 0 <= step < 10 for side, lots, step in orders)


# ------------------------------------------------------------------------------------ history()
REAL_1M = Path(__file__).parents[1].parent / "shared" / "data" / "ohlcv" / "nautilus" / "btc-perp-20211231-20220201_1m.csv"


def _stylised(close: np.ndarray) -> dict[str, float]:
    r = np.diff(np.log(close))
    return {"kurtosis": ((r - r.mean()) ** 4).mean() / r.var() ** 2 - 3.0, "sd": r.std(),
            "abs_acf": float(np.mean([_acf(np.abs(r), k) for k in range(1, 6)])),
            "raw_acf": max(abs(_acf(r, k)) for k in range(1, 6))}


def test_history_candles_are_consistent_aligned_and_join_the_live_start():
    h = history(ETH, "15m", 2000, seed=4)
    assert set(h) == {"ts", "open", "high", "low", "close", "volume", "buy_volume"}
    assert all(len(v) == 2000 for v in h.values())
    assert np.all(np.diff(h["ts"]) == 900_000) and h["ts"][-1] + 900_000 == DEFAULT_START_TS
    assert np.all(h["high"] >= np.maximum(h["open"], h["close"]))
    assert np.all(h["low"] <= np.minimum(h["open"], h["close"]))
    assert np.all(h["open"][1:] == h["close"][:-1])                   # no gaps between candles
    assert h["close"][-1] == profile_for(ETH).price
    assert np.all((h["volume"] > 0) & (h["buy_volume"] >= 0) & (h["buy_volume"] <= h["volume"]))
    tick = profile_for(ETH).tick
    assert np.allclose(np.round(h["close"] / tick) * tick, h["close"], rtol=0, atol=tick * 1e-6)
    again = history(ETH, "15m", 2000, seed=4)
    assert all(np.array_equal(h[k], again[k]) for k in h)
    assert not np.array_equal(h["close"], history(ETH, "15m", 2000, seed=5)["close"])
    # Candles bullish on the bar are bought more than sold (taker buy share follows the move).
    up = h["close"] > h["open"]
    share = h["buy_volume"] / h["volume"]
    assert share[up].mean() > 0.5 > share[~up & (h["close"] < h["open"])].mean()


def test_history_has_the_stylised_facts_of_real_btc_one_minute_data():
    real = np.loadtxt(REAL_1M, delimiter=",", skiprows=1, usecols=4)       # 45,031 real 1m closes
    sim = history(BTC, "1m", len(real), seed=7)["close"]
    facts_real, facts_sim = _stylised(real), _stylised(sim)
    for facts in (facts_real, facts_sim):
        assert facts["kurtosis"] > 5.0, facts
        assert facts["abs_acf"] > 0.1, facts
        assert facts["raw_acf"] < 0.05, facts
    assert 0.5 < facts_sim["sd"] / facts_real["sd"] < 2.0
    assert 0.5 < facts_sim["abs_acf"] / facts_real["abs_acf"] < 2.0


def test_history_is_fast_and_refuses_bad_arguments():
    t0 = time.perf_counter()
    h = history(SOL, "4h", 5000, seed=1)
    assert time.perf_counter() - t0 < 1.5 and len(h["close"]) == 5000
    with pytest.raises(ValueError, match="unknown timeframe"):
        history(SOL, "7m", 10)
    with pytest.raises(ValueError, match="bars"):
        history(SOL, "1m", 0)
    with pytest.raises(ValueError, match="ccxt unified"):
        history("SOLUSDT", "1m", 10)

