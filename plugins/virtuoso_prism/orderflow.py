"""Orderflow face: who is aggressing in the recent trades, and whether price gives way (trades only).

It reads the newest `window` trades (default 1,000) of the TradeWindow. trade_flow and large_trades
follow every trade; cvd, market_making, toxicity and the large-trade size are read over the window
ending at the last complete chunk of window/20 trades, so they change once per chunk (a VPIN bucket
or a regression chunk is only meaningful once complete) and a trade costs a few dot products. Sizes are base units, prices
are used as ln(price); every reading below is a ratio or a z-score, so units cancel. Trades whose
aggressor is unknown count in volumes but on neither side (never guessed).

Components (weight), 50 neutral:
  trade_flow (.20)      size-weighted aggressor imbalance (buy - sell) / (buy + sell) over the last
                        100, 300 and `window` trades, weighted .5/.3/.2: score = 50 + 50·tanh(f / 0.3).
  cvd (.10)             cumulative volume delta, z-scored against itself over the window:
                        50 + 50·tanh(z / 1.5). DIV: CVD against price swings (60 equal trade-count
                        chunks, 3-chunk swings): regular ±1, hidden ±0.6 half-caps.
  large_trades (.10)    imbalance of trades at or above the window's 90th size percentile (the order
                        statistic ceil(0.9·n)):
                        50 + 50·tanh(f / 0.4).
  market_making (.30)   passive absorption vs aggression. Over 20 chunks, regress each chunk's log
                        return on its flow imbalance (β = Σfr/Σf²); the residual return z
                        = Σ(r - βf) / (σ_resid·√20) is the move the aggressors do not explain: sells
                        hitting a bid that does not give way (passive buyers absorbing) is positive.
                        score = 50 + 50·tanh(z / 1.5).
  toxicity (.30)        VPIN over 50 equal-volume buckets (share of one-sided volume, 0-1) times the
                        informed side's direction (-1..1): 50 + 50·tanh(2·VPIN·direction).
Confidence: coverage × share of trades with a known aggressor × min(1, trades / window).
Too little data: fewer than 100 trades -> every component n/a.
Options ([prism.options.orderflow]): window 1000 (trades; at least 100), vpin_buckets 50 (equal-volume
buckets of the VPIN; the window must hold at least as many trades), and weights = {component = w}.
"""

from __future__ import annotations

import functools
import math
from typing import Any, ClassVar

import numpy as np

from virtuoso_tui.prism.blended import BlendedFace, Reading, column
from virtuoso_tui.prism.divergence import divergence, pivots
from virtuoso_tui.prism.indicators import vpin_cumulative
from virtuoso_tui.prism.scoring import mean_std, squash, zscore_last

MIN_TRADES = 100
CHUNKS_CVD = 60
CHUNKS_MM = 20
LARGE_QUANTILE = 0.90
TRADES = frozenset({"trades"})


@functools.lru_cache(maxsize=16)
def _chunk_edges(m: int, chunks: int) -> tuple[np.ndarray, np.ndarray]:
    """First and last index of each of `chunks` equal trade-count chunks of `m` trades (read-only)."""
    bounds = np.linspace(0, m, chunks + 1).astype(np.int64)
    starts, ends = bounds[:-1], bounds[1:] - 1
    starts.flags.writeable = ends.flags.writeable = False
    return starts, ends


class OrderflowFace(BlendedFace):
    name: ClassVar[str] = "orderflow"
    title: ClassVar[str] = "Orderflow"
    default_weight: ClassVar[float] = 0.225
    components: ClassVar[dict[str, float]] = {"trade_flow": 0.20, "cvd": 0.10, "large_trades": 0.10,
                                              "market_making": 0.30, "toxicity": 0.30}
    component_requires: ClassVar[dict[str, frozenset[str]]] = {c: TRADES for c in components}
    option_defaults: ClassVar[dict[str, Any]] = {"window": 1000, "vpin_buckets": 50}
    option_minimums: ClassVar[dict[str, float]] = {"window": MIN_TRADES, "vpin_buckets": 2}

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self._tails: dict[str, tuple[tuple, int, list[float]]] = {}

    def read_stream(self, state: Any, names: set[str]) -> dict[str, Reading]:
        trades = state.trades
        window = self.options["window"]
        n = len(trades)
        if n < MIN_TRADES:
            return {c: Reading(None) for c in names}
        chunk = max(1, window // CHUNKS_MM)
        settled, threshold, prefix = self._settled(state, window, chunk)
        tail = trades.total % chunk
        # the trades since the last complete chunk (< chunk of them) plus prefix sums of the settled
        # window give every live sum in a few small operations: the per-trade cost stays flat
        tail_sums = self._tail_sums(state.symbol, trades, n, tail, threshold)
        m = prefix.shape[0] - 1
        s0, s1, s2, s3, s4 = prefix[m].tolist()
        t0, t1, t2, t3, t4 = tail_sums
        flows = []
        for k in (100, 300):  # signed / known volume of the newest k trades
            o0, o1 = prefix[m - min(m, max(0, k - tail)), :2].tolist()
            signed, known = s0 - o0 + t0, s1 - o1 + t1
            flows.append(signed / known if known > 0 else 0.0)
        o0, o1, o2, o3, o4 = prefix[m - min(m, max(0, window - tail))].tolist()
        full = [s0 - o0 + t0, s1 - o1 + t1, s2 - o2 + t2, s3 - o3 + t3, s4 - o4 + t4]
        flows.append(full[0] / full[1] if full[1] > 0 else 0.0)
        f = 0.5 * flows[0] + 0.3 * flows[1] + 0.2 * flows[2]
        out = dict(settled)
        out["trade_flow"] = Reading(squash(f / 0.3), {"flow_100": flows[0], "flow_300": flows[1], "flow_window": flows[2]})
        fb = full[2] / full[3] if full[3] > 0 else 0.0
        out["large_trades"] = Reading(squash(fb / 0.4), {"large_flow": fb, "large_size": threshold})
        held = min(n, min(m, max(0, window - tail)) + tail)
        self.confidence_factors.setdefault(state.symbol, {})["trades"] = (full[4] / held) * min(1.0, n / window)
        return {c: out[c] for c in names}

    def _tail_sums(self, symbol: str, trades: Any, n: int, tail: int, threshold: float) -> list[float]:
        """[signed, known, large signed, large known, known count] of the `tail` newest trades, carried
        forward trade by trade while the chunk lasts (one trade costs a few float additions)."""
        total = trades.total
        key = (id(trades), total - tail, threshold)
        acc = self._tails.get(symbol)
        if acc is not None and acc[0] == key and 0 <= total - acc[1] <= tail:
            sums, new = acc[2], total - acc[1]
            if new:
                amounts = column(trades, "amount")[n - new:].tolist()
                sides = column(trades, "side")[n - new:].tolist()
                for a, sd in zip(amounts, sides, strict=True):
                    g, k = a * sd, a * abs(sd)
                    sums[0] += g
                    sums[1] += k
                    if a >= threshold:
                        sums[2] += g
                        sums[3] += k
                    sums[4] += abs(sd)
        else:
            amount = column(trades, "amount")[n - tail:]
            side = column(trades, "side")[n - tail:].astype(np.float64)
            known, signed = amount * np.abs(side), amount * side
            big = amount >= threshold
            sums = [float(signed.sum()), float(known.sum()), float(signed[big].sum()), float(known[big].sum()),
                    float(np.abs(side).sum())]
        self._tails[symbol] = (key, total, sums)
        return sums

    def _settled(self, state: Any, window: int, chunk: int) -> tuple[dict[str, Reading], float, np.ndarray]:
        """CVD, market making, toxicity and the large-trade size over the window ending at the last
        complete chunk of window/20 trades (counted from the first trade ever seen): they change once
        per chunk, not per trade, and a full evaluation and an incremental one agree exactly. Also the
        prefix sums (signed, known, large signed, large known, known count) of that window."""
        trades = state.trades
        n, total = len(trades), trades.total
        end = n - total % chunk
        key = (id(trades), total // chunk, n == trades.capacity)
        return self.memo(state.symbol, "settled", key, lambda: self._compute_settled(trades, end, window))

    def _compute_settled(self, trades: Any, end: int, window: int) -> tuple[dict[str, Reading], float, np.ndarray]:
        start = max(0, end - window)
        amount = column(trades, "amount")[start:end]
        side = column(trades, "side")[start:end].astype(np.float64)
        m = amount.shape[0]
        signed = amount * side
        known = amount * np.abs(side)
        k = int(math.ceil(LARGE_QUANTILE * m)) - 1  # the order statistic at the 90th percentile
        threshold = float(np.partition(amount, k)[k]) if m else float("inf")
        big = amount >= threshold
        prefix = np.zeros((m + 1, 5))
        np.cumsum(np.column_stack((signed, known, signed * big, known * big, np.abs(side))), axis=0, out=prefix[1:])
        if m < MIN_TRADES:
            return {c: Reading(None) for c in ("cvd", "market_making", "toxicity")}, threshold, prefix
        logp = np.log(column(trades, "price")[start:end])
        out: dict[str, Reading] = {}

        cvd = prefix[1:, 0]  # the running signed volume is the prefix sums' first column
        z = zscore_last(cvd, m)
        edges, cvd_ends = _chunk_edges(m, CHUNKS_CVD)
        hi = np.maximum.reduceat(logp, edges)
        lo = np.minimum.reduceat(logp, edges)
        cvd_end = cvd[cvd_ends]
        strength, label = divergence(hi, lo, cvd_end, pivots(hi, lo, 3, CHUNKS_CVD))
        out["cvd"] = Reading(squash(z / 1.5), {"cvd": float(cvd[-1]), "z": z}, strength, label)

        starts, ends = _chunk_edges(m, CHUNKS_MM)
        r = logp[ends] - np.concatenate(([logp[0]], logp[ends[:-1]]))
        vol = np.add.reduceat(known, starts)
        fl = np.divide(np.add.reduceat(signed, starts), vol, out=np.zeros(CHUNKS_MM), where=vol > 0)
        ff = float(fl @ fl)
        beta = float(fl @ r) / ff if ff > 0 else 0.0
        resid = r - beta * fl
        sd = mean_std(resid)[1]
        zmm = float(resid.sum()) / (sd * math.sqrt(CHUNKS_MM)) if sd > 0 else 0.0
        out["market_making"] = Reading(squash(zmm / 1.5), {"residual_z": zmm, "beta_bps": beta * 1e4})

        cum_v = np.concatenate(([0.0], np.cumsum(amount)))
        cum_b = 0.5 * (prefix[:, 1] + prefix[:, 0])  # known + signed = 2 × bought
        cum_s = 0.5 * (prefix[:, 1] - prefix[:, 0])
        buckets = self.options["vpin_buckets"]
        tox, direction = vpin_cumulative(cum_v, cum_b, cum_s, buckets) if m >= buckets else (float("nan"), float("nan"))
        out["toxicity"] = Reading(squash(2.0 * tox * direction), {"vpin": tox, "direction": direction})

        return out, threshold, prefix
