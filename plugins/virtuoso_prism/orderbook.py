"""Orderbook face: which side the resting liquidity favours, read from the top 50 levels of the L2 book.

Distances are log distances from the geometric mid √(bid·ask), in bps (10,000 × ln); sizes are base
units and only ever compared with each other, so neither unit matters. A crossed, gapped or never
snapshotted book (OrderBook.valid False) is not scored: every component is n/a.

Components (weight), 50 neutral:
  liquidity (.35)   bid vs ask base size within 10, 25, 50 and 100 bps of mid, (bid - ask) / (bid + ask)
                    per band, averaged: score = 50 + 50·tanh(x / 0.3). Deeper bids hold price up.
  imbalance (.35)   top-10 levels each side, size weighted by exp(-distance_bps / 10):
                    (Wb - Wa) / (Wb + Wa), score = 50 + 50·tanh(x / 0.4).
  impact (.30)      cost to push price: sweep Q = ¼ of the thinner side's visible size through the asks
                    (buy) and through the bids (sell); the cost is the size-weighted distance of the
                    fills from mid in bps. x = (sell_cost - buy_cost) / (sell_cost + buy_cost): when buying
                    moves price less than selling does, the path of least resistance is up:
                    score = 50 + 50·tanh(x / 0.3). The DIV detail shows both slippages in bps; with
                    the option `impact_notional` (quote units) it also shows OrderBook.impact's
                    slippage for that notional each way. That figure is display only: a fixed quote
                    amount depends on the price unit, so it never moves the score.
Confidence: coverage × 1 / (1 + spread_bps / 20) × min(1, levels per side / 20): a wide or thin book
says less.
Options ([prism.options.orderbook]): levels 50 (per side read from the book), impact_notional (off;
quote units, display only, see impact), and weights = {component = w}.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from virtuoso_tui.prism.blended import BlendedFace, Reading
from virtuoso_tui.prism.indicators import band_depth_ratio, sweep_cost_bps, weighted_imbalance
from virtuoso_tui.prism.scoring import squash

LEVELS = 50
BANDS_BPS = (10.0, 25.0, 50.0, 100.0)
BOOK = frozenset({"book"})


class OrderbookFace(BlendedFace):
    name: ClassVar[str] = "orderbook"
    title: ClassVar[str] = "Orderbook"
    default_weight: ClassVar[float] = 0.225
    components: ClassVar[dict[str, float]] = {"liquidity": 0.35, "imbalance": 0.35, "impact": 0.30}
    component_requires: ClassVar[dict[str, frozenset[str]]] = {c: BOOK for c in components}
    option_defaults: ClassVar[dict[str, Any]] = {"levels": LEVELS, "impact_notional": None}
    option_minimums: ClassVar[dict[str, float]] = {"levels": 1}

    def read_stream(self, state: Any, names: set[str]) -> dict[str, Reading]:
        book = state.book
        levels = self.options["levels"]
        bids, asks = book.bids(levels), book.asks(levels)
        if not book.valid or bids.shape[0] == 0 or asks.shape[0] == 0:
            return {c: Reading(None) for c in names}
        bid_lp, bid_sz = np.log(bids[:, 0]), np.ascontiguousarray(bids[:, 1])
        ask_lp, ask_sz = np.log(asks[:, 0]), np.ascontiguousarray(asks[:, 1])
        mid = 0.5 * (bid_lp[0] + ask_lp[0])
        spread_bps = (ask_lp[0] - bid_lp[0]) * 1e4
        out: dict[str, Reading] = {}

        liq, per_band = band_depth_ratio(bid_lp, bid_sz, ask_lp, ask_sz, mid, BANDS_BPS)
        out["liquidity"] = Reading(squash(liq / 0.3), {"ratio": liq, **{f"bid_ask_{int(b)}bps": ba for b, ba in zip(BANDS_BPS, per_band, strict=True)}})

        imb = weighted_imbalance(bid_lp, bid_sz, ask_lp, ask_sz, mid)
        out["imbalance"] = Reading(squash(imb / 0.4), {"imbalance": imb})

        qty = 0.25 * min(float(bid_sz.sum()), float(ask_sz.sum()))
        buy = sweep_cost_bps(ask_lp, ask_sz, mid, qty)
        sell = sweep_cost_bps(bid_lp, bid_sz, mid, qty)
        x = (sell - buy) / (sell + buy) if sell + buy > 0 else 0.0
        raw = {"qty": qty, "buy_slippage_bps": buy, "sell_slippage_bps": sell}
        label = f"buy {buy:.1f} bps / sell {sell:.1f} bps"
        notional = self.options.get("impact_notional")
        if notional:  # display only: a fixed quote amount is not unit-free, so it never moves the score
            up, down = book.impact("buy", float(notional)), book.impact("sell", float(notional))
            raw.update(notional=float(notional), notional_buy_bps=up.slippage_bps, notional_sell_bps=down.slippage_bps)
            label += f"; {float(notional):,.0f} quote: buy {up.slippage_bps:.1f} / sell {down.slippage_bps:.1f} bps"
        out["impact"] = Reading(squash(x / 0.3), raw, label=label)
        self.confidence_factors.setdefault(state.symbol, {})["book"] = (
            (1.0 / (1.0 + spread_bps / 20.0)) * min(1.0, min(bids.shape[0], asks.shape[0]) / 20.0))
        return {c: out[c] for c in names}
