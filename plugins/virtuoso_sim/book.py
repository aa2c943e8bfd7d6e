"""One symbol's simulated venue: an L2 book on an integer tick grid, takers that walk it, makers that
re-quote it, and the Trade / BookDelta / Liquidation records that result.

Each 100 ms step: informed takers trade when the latent fair value (latent.py) they foresee half a
second ahead is beyond the quotes; noise takers arrive Poisson with a slight lean toward the current
fair value; queued forced orders (liquidations, from derivatives.py) sweep the book. Every taker
order consumes levels from the best price outward, one Trade per level, so a buy prints at the best
ask and walks up. Then makers move their anchor part way toward fair value (they learn it with a lag)
plus the flow's transient impact, pull stale quotes, refill swept levels (not always at once:
resiliency), keep `levels` contiguous levels a side, jiggle sizes, and lean their near-touch sizes
toward the side the foreseen value favours. So signed flow and near-touch imbalance LEAD the quote a
little (about 0.1-0.2 correlation with the next second's move), as on a real venue. The step's level
changes go out as one BookDelta with a continuous sequence. Sizes are integer lots inside, so walking
never leaves float dust; prices are integer ticks. The foreseen value is clamped to the minute being
stepped (the last half second of a minute sees no further than its end).
"""

from __future__ import annotations

import math

import numpy as np

from virtuoso_sim.profiles import STEPS_PER_MIN, SymbolProfile
from virtuoso_tui.model.market import BookDelta, BookSnapshot, Liquidation, Trade

#: Share of the gap between fair value and the maker anchor closed per step (a lag of ~0.4 s).
ANCHOR_PULL = 0.25
#: Ticks the maker anchor moves per typical level size of net taker volume (impact; it decays as the
#: anchor is pulled back to fair value unless the value itself moved).
IMPACT_TICKS = 0.3
#: Probability per step that makers refill a swept gap back to their target quote.
REFILL = 0.6
#: Steps ahead the informed takers see the fair value (0.5 s): information reaches flow before quotes.
LOOKAHEAD = 5
#: Informed takers: chance per step per tick of edge beyond the threshold, its cap, and size per tick
#: of edge in typical level sizes.
INFORMED_RATE = 0.04
INFORMED_MAX = 0.2
INFORMED_SIZE = 0.12
#: Largest near-touch size tilt makers apply toward the side they expect to be supported.
BOOK_LEAN = 0.3
_POOL = 4096


class _Pool:
    """Pre-drawn random numbers handed out one at a time (numpy per draw would cost more than the step)."""

    __slots__ = ("draw", "values", "i")

    def __init__(self, draw) -> None:
        self.draw = draw
        self.values: list[float] = draw().tolist()
        self.i = 0

    def next(self) -> float:
        i = self.i
        if i == len(self.values):
            self.values, i = self.draw().tolist(), 0
        self.i = i + 1
        return self.values[i]


def _exact(step: float) -> tuple[float, float]:
    """(mul, div) so that n * mul / div is the float nearest to n x step for a 1-2-5 step."""
    if step >= 1.0:
        return step, 1.0
    return 1.0, float(round(1.0 / step))


class SymbolBook:
    """The venue of one symbol. `prepare_minute` loads a minute of fair values and draws; `step(i, ...)`
    runs step i of it, appending records to `out`."""

    def __init__(self, profile: SymbolProfile, rng: np.random.Generator, levels: int) -> None:
        self.p = profile
        self.symbol = profile.symbol
        self.rng = rng
        self.levels = levels
        self.tick, self.lot = profile.tick, profile.lot
        # Prices and amounts are integers of ticks and lots; k * mul / div is exact for 1-2-5 steps
        # (dividing an integer by 1/step, itself an integer, rounds correctly: no 0.30000000000000004).
        self.pmul, self.pdiv = _exact(self.tick)
        self.pdec = profile.price_decimals
        self.amul, self.adiv = _exact(self.lot)
        # Order sizes in multiples of a level: lognormal body, Pareto tail (a few whales).
        self._size = _Pool(lambda: 0.06 * np.exp(1.1 * rng.standard_normal(_POOL))
                           * np.where(rng.random(_POOL) < 0.02, rng.pareto(1.5, _POOL) + 1.0, 1.0))
        self._unit = _Pool(lambda: rng.random(_POOL))
        self._level = _Pool(lambda: np.exp(0.45 * rng.standard_normal(_POOL)))
        self._depth = _Pool(lambda: rng.exponential(5.0, _POOL))
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self.seq = 0
        self.trade_id = 0
        self.half_spread = 1.25       # ticks
        self.q = float(profile.level_lots)
        self.bid_tilt = 1.0           # near-touch size multiplier of new bids (asks get 2 - tilt)
        self.anchor = profile.price / self.tick
        self.last = round(self.anchor)
        self._chg_b: dict[int, int] = {}
        self._chg_a: dict[int, int] = {}
        # Flow statistics that market.py reads and resets (lots).
        self.buy_lots = 0
        self.sell_lots = 0
        self.informed_lots = 0        # signed: + informed buying
        self.liquidated_lots = 0
        self.high = self.low = self.last  # ticks traded since market.py last reset them
        self._build(round(self.anchor))

    # ---------------------------------------------------------------- setup
    def _fresh(self, depth: int, tilt: float = 1.0) -> int:
        """A new level's size in lots: thicker away from the touch, as on real books; `tilt` scales
        the levels near the touch (makers who foresee a rise rest more on the bid)."""
        if depth < 10:
            return max(1, int(self.q * (0.6 + 0.02 * depth) * tilt * self._level.next()))
        return max(1, int(self.q * (0.6 + 0.02 * depth) * self._level.next()))

    def _build(self, centre: int) -> None:
        tb = math.floor(centre - self.half_spread)
        ta = max(tb + 1, math.ceil(centre + self.half_spread))
        self.bids = {tb - d: self._fresh(d) for d in range(self.levels)}
        self.asks = {ta + d: self._fresh(d) for d in range(self.levels)}
        self.bb, self.bf, self.ba, self.af = tb, tb - self.levels + 1, ta, ta + self.levels - 1

    def prepare_minute(self, level: float, returns: np.ndarray, vol_factor: float, orders_per_step: float) -> float:
        """Load a minute: `level` is the log return so far, `returns` the minute's step log returns.
        Sets spread (wider when volatile) and level sizes (thinner when volatile); returns the new level."""
        path = level + np.cumsum(returns)
        self._fair = (self.p.price / self.tick * np.exp(path)).tolist()
        rng = self.rng
        self._orders = rng.poisson(orders_per_step, STEPS_PER_MIN).tolist()
        self._makers = rng.poisson(1.5, STEPS_PER_MIN).tolist()
        u = rng.random((4, STEPS_PER_MIN))
        self._u_inf, self._u_size, self._u_rb, self._u_ra = (row.tolist() for row in u)
        self.jitter = rng.integers(0, 100, STEPS_PER_MIN).tolist()
        self.half_spread = 0.5 + 0.75 * vol_factor
        self.q = self.p.level_lots / math.sqrt(max(0.6, vol_factor))
        return float(path[-1])

    # ---------------------------------------------------------------- reads
    def mid(self) -> float:
        """Mid price (quote units) of the current book."""
        return (self.bb + self.ba) * 0.5 * self.tick

    def fair_price(self, i: int) -> float:
        return self._fair[i] * self.tick

    def snapshot(self, ts: int) -> BookSnapshot:
        pm, pd, am, ad = self.pmul, self.pdiv, self.amul, self.adiv
        bids, asks = self.bids, self.asks
        return BookSnapshot(
            self.symbol, ts,
            tuple([(k * pm / pd, bids[k] * am / ad) for k in range(self.bb, self.bf - 1, -1)]),
            tuple([(k * pm / pd, asks[k] * am / ad) for k in range(self.ba, self.af + 1)]),
            self.seq,
        )

    # ---------------------------------------------------------------- takers
    def _trade(self, ts: int, k: int, lots: int, side: str, out: list) -> None:
        self.trade_id += 1
        self.last = k
        if k > self.high:
            self.high = k
        elif k < self.low:
            self.low = k
        out.append(Trade(self.symbol, ts, k * self.pmul / self.pdiv, lots * self.amul / self.adiv,
                         side, str(self.trade_id)))

    def buy(self, lots: int, ts: int, out: list) -> tuple[int, int]:
        """A market buy of `lots` walking the asks; returns (filled lots, sum of tick x lots)."""
        asks, chg = self.asks, self._chg_a
        ba, af, rem, notional = self.ba, self.af, lots, 0
        while rem and ba <= af:
            k, s = ba, asks[ba]
            if s > rem:
                take = rem
                asks[k] = chg[k] = s - rem
            else:
                take = s
                del asks[k]
                chg[k] = 0
                ba += 1
            rem -= take
            notional += take * k
            self._trade(ts, k, take, "buy", out)
        self.ba = ba
        self.buy_lots += lots - rem
        return lots - rem, notional

    def sell(self, lots: int, ts: int, out: list) -> tuple[int, int]:
        """A market sell of `lots` walking the bids; returns (filled lots, sum of tick x lots)."""
        bids, chg = self.bids, self._chg_b
        bb, bf, rem, notional = self.bb, self.bf, lots, 0
        while rem and bb >= bf:
            k, s = bb, bids[bb]
            if s > rem:
                take = rem
                bids[k] = chg[k] = s - rem
            else:
                take = s
                del bids[k]
                chg[k] = 0
                bb -= 1
            rem -= take
            notional += take * k
            self._trade(ts, k, take, "sell", out)
        self.bb = bb
        self.sell_lots += lots - rem
        return lots - rem, notional

    # ---------------------------------------------------------------- makers
    def _requote_bids(self, tb: int, u: float) -> None:
        bids, chg, L = self.bids, self._chg_b, self.levels
        bb, bf = self.bb, self.bf
        while bb > tb and bb >= bf:             # value fell: pull bids that would be picked off
            del bids[bb]
            chg[bb] = 0
            bb -= 1
        if bb < bf:                             # side empty (swept or pulled): rebuild from target
            bb, bf = tb, tb + 1
        elif bb < tb and (u < REFILL or tb - bb > 4):
            for k in range(bb + 1, tb + 1):
                bids[k] = chg[k] = self._fresh(tb - k, self.bid_tilt)
            bb = tb
        while bb - bf + 1 > L:
            del bids[bf]
            chg[bf] = 0
            bf += 1
        while bb - bf + 1 < L:
            bf -= 1
            bids[bf] = chg[bf] = self._fresh(bb - bf, self.bid_tilt)
        self.bb, self.bf = bb, bf

    def _requote_asks(self, ta: int, u: float) -> None:
        asks, chg, L = self.asks, self._chg_a, self.levels
        ba, af = self.ba, self.af
        while ba < ta and ba <= af:
            del asks[ba]
            chg[ba] = 0
            ba += 1
        if ba > af:
            ba, af = ta, ta - 1
        elif ba > ta and (u < REFILL or ba - ta > 4):
            for k in range(ta, ba):
                asks[k] = chg[k] = self._fresh(k - ta, 2.0 - self.bid_tilt)
            ba = ta
        while af - ba + 1 > L:
            del asks[af]
            chg[af] = 0
            af -= 1
        while af - ba + 1 < L:
            af += 1
            asks[af] = chg[af] = self._fresh(af - ba, 2.0 - self.bid_tilt)
        self.ba, self.af = ba, af

    def _jiggle(self, n: int) -> None:
        """Makers add to and cancel from resting levels (sizes mean-revert to a fresh level's)."""
        unit, depth, L = self._unit, self._depth, self.levels
        for _ in range(n):
            d = min(L - 1, int(depth.next()))
            if unit.next() < 0.5:
                k = self.bb - d
                s = self.bids.get(k)
                if s is not None:
                    self.bids[k] = self._chg_b[k] = max(1, (s + self._fresh(d, self.bid_tilt)) // 2)
            else:
                k = self.ba + d
                s = self.asks.get(k)
                if s is not None:
                    self.asks[k] = self._chg_a[k] = max(1, (s + self._fresh(d, 2.0 - self.bid_tilt)) // 2)

    def _informed_lots(self, edge: float, u: float) -> int:
        """An informed order: larger for a larger edge (ticks), capped near a top level's size so
        that they trade often rather than sweep (they hide their hand)."""
        return int(self.q * INFORMED_SIZE * min(edge, 3.0) * (0.3 + 0.7 * u)) + 1

    # ---------------------------------------------------------------- the step
    def step(self, i: int, ts: int, out: list, forced: list | None = None) -> None:
        """Run step i of the prepared minute at market time `ts`; `forced` holds liquidation orders
        as (side, lots) that must trade this step."""
        self._chg_b, self._chg_a = {}, {}
        fair, hs = self._fair[i], self.half_spread
        view = self._fair[min(i + LOOKAHEAD, STEPS_PER_MIN - 1)]
        threshold = hs + 1.0
        signed = 0
        # Informed takers: the value they foresee has left the quotes, they take the stale side.
        u, gap_up, gap_down = self._u_inf[i], view - self.ba, self.bb - view
        if gap_up > threshold and u < min(INFORMED_MAX, INFORMED_RATE * (gap_up - threshold)):
            filled, _ = self.buy(self._informed_lots(gap_up - hs, self._u_size[i]), ts, out)
            signed += filled
            self.informed_lots += filled
        elif gap_down > threshold and u < min(INFORMED_MAX, INFORMED_RATE * (gap_down - threshold)):
            filled, _ = self.sell(self._informed_lots(gap_down - hs, self._u_size[i]), ts, out)
            signed -= filled
            self.informed_lots -= filled
        n = self._orders[i]
        if n:
            lean = 0.5 + 0.1 * math.tanh((fair - (self.bb + self.ba) * 0.5) / (hs + 1.0))
            for _ in range(n):
                lots = max(1, int(self.q * self._size.next()))
                if self._unit.next() < lean:
                    signed += self.buy(lots, ts, out)[0]
                else:
                    signed -= self.sell(lots, ts, out)[0]
        if forced:
            for side, lots in forced:
                filled, notional = (self.buy if side == "buy" else self.sell)(lots, ts, out)
                if filled:
                    self.liquidated_lots += filled
                    signed += filled if side == "buy" else -filled
                    out.append(Liquidation(self.symbol, ts, side, round(notional / filled * self.tick, self.pdec),
                                           filled * self.amul / self.adiv))
        # Makers with a view lean their near-touch sizes: book imbalance foreshadows the move.
        self.bid_tilt = 1.0 + BOOK_LEAN * math.tanh((view - self.anchor) / (hs + 1.0))
        anchor = self.anchor + ANCHOR_PULL * (fair - self.anchor) + IMPACT_TICKS * signed / self.q
        self.anchor = anchor
        tb = math.floor(anchor - hs)
        ta = max(tb + 1, math.ceil(anchor + hs))
        self._requote_bids(tb, self._u_rb[i])
        self._requote_asks(ta, self._u_ra[i])
        if self._makers[i]:
            self._jiggle(self._makers[i])
        chg_b, chg_a = self._chg_b, self._chg_a
        if chg_b or chg_a:
            pm, pd, am, ad = self.pmul, self.pdiv, self.amul, self.adiv
            prev = self.seq
            self.seq = prev + 1
            out.append(BookDelta(
                self.symbol, ts,
                tuple([(k * pm / pd, v * am / ad) for k, v in sorted(chg_b.items(), reverse=True)]),
                tuple([(k * pm / pd, v * am / ad) for k, v in sorted(chg_a.items())]),
                self.seq, prev,
            ))
