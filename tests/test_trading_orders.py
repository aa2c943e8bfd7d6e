"""The order manager: state machine, ids, idempotency, journal-before-act, risk gating, restore and
reconcile."""

from __future__ import annotations

import itertools

import pytest
from virtuoso_paper.matching import PaperExecutor

from virtuoso_tui.model import Fill, OrderIntent, OrderStatus, OrderType, RiskDecision
from virtuoso_tui.risk.rule import RiskRule
from virtuoso_tui.trading.bookview import ArrayBook
from virtuoso_tui.trading.executor import Executor
from virtuoso_tui.trading.journal import SqliteJournal
from virtuoso_tui.trading.orders import TRANSITIONS, IllegalTransition, OrderManager, check_transition
from virtuoso_tui.trading.portfolio import Portfolio

S = OrderStatus
SYM = "BTC/USDT:USDT"
T0 = 1_700_000_000_000


class Recorder(Executor):
    """A venue that accepts orders and fills only when told; remembers what it saw."""

    name = "rec"

    def __init__(self, journal=None):
        super().__init__()
        self.journal = journal
        self.seen = []
        self.live: set[str] = set()
        self.status_in_journal = []

    def submit(self, order):
        if self.journal is not None:  # what the journal says at the moment the venue is called
            self.status_in_journal.append({o.client_id: o.status for o in self.journal.orders()}[order.client_id])
        self.seen.append(order)
        self.live.add(order.client_id)

    def cancel(self, client_id):
        if client_id not in self.live:
            return False
        self.live.discard(client_id)
        self.sink.report_status(client_id, S.CANCELLED, "cancelled")
        return True

    def open_ids(self):
        return set(self.live)

    def fill(self, cid, amount, price, ts=T0, fee=0.0, fill_id=None):
        o = next(o for o in self.seen if o.client_id == cid)
        self.sink.report_fill(Fill(cid, o.symbol, o.side, ts, price, amount, fee, "taker", fill_id or f"{cid}-{price}-{amount}"))


class Fixed(RiskRule):
    name = "fixed"
    defaults = {"action": "allow", "amount": None}

    def check(self, intent, ctx):
        a = self.options["action"]
        if a == "reject":
            return RiskDecision.reject(self.name, "no")
        if a == "resize":
            return RiskDecision.resize(self.name, self.options["amount"], "smaller")
        if a == "raise":
            raise RuntimeError("boom")
        return RiskDecision.allow(self.name)


class Halter(Fixed):
    name = "halter"
    halts = True


def make(rules=(), journal=None, ex=None, session="vt", cash=10_000.0):
    journal = journal or SqliteJournal()
    ex = ex or Recorder(journal)
    clock = [T0]
    events = []
    om = OrderManager(journal, Portfolio(cash), {"rec": ex}, list(rules), lambda: clock[0], session=session,
                      default_executor="rec", emit=lambda t, p: events.append((t, p)))
    return om, ex, journal, clock, events


def test_transition_table_is_exactly_the_state_machine():
    allowed = {(S.NEW, S.SUBMITTED), (S.NEW, S.REJECTED), (S.SUBMITTED, S.PARTIALLY_FILLED),
               (S.SUBMITTED, S.FILLED), (S.SUBMITTED, S.CANCELLED), (S.SUBMITTED, S.REJECTED),
               (S.SUBMITTED, S.EXPIRED), (S.PARTIALLY_FILLED, S.PARTIALLY_FILLED),
               (S.PARTIALLY_FILLED, S.FILLED), (S.PARTIALLY_FILLED, S.CANCELLED), (S.PARTIALLY_FILLED, S.EXPIRED)}
    for old, new in itertools.product(S, S):
        if (old, new) in allowed:
            check_transition(old, new)
        else:
            with pytest.raises(IllegalTransition, match=f"from {old.value} to {new.value}"):
                check_transition(old, new, "x")
    assert all(not TRANSITIONS[s] for s in S if s.is_terminal)


def test_lifecycle_partial_then_filled_with_journal_events():
    om, ex, j, clock, events = make()
    o = om.submit(OrderIntent(SYM, "buy", 1.0))
    assert o.client_id == "vt-000001" and o.status is S.SUBMITTED
    ex.fill(o.client_id, 0.4, 100.0)
    assert o.status is S.PARTIALLY_FILLED and o.filled == pytest.approx(0.4)
    ex.fill(o.client_id, 0.6, 110.0)
    assert o.status is S.FILLED and o.average_price == pytest.approx(106.0)
    assert [e[1] for e in j.order_events(o.client_id)] == ["new", "submitted", "partially_filled", "filled"]
    with pytest.raises(IllegalTransition):
        om.report_status(o.client_id, S.CANCELLED)
    with pytest.raises(IllegalTransition, match="already filled"):
        om.cancel(o.client_id)
    assert [t for t, _ in events].count("fill") == 2


def test_ids_are_deterministic_per_session():
    ids = []
    for _ in range(2):
        om, *_ = make(session="bt")
        ids.append([om.submit(OrderIntent(SYM, "buy", 1.0)).client_id for _ in range(3)])
    assert ids[0] == ids[1] == ["bt-000001", "bt-000002", "bt-000003"]


def test_idempotent_submit_sends_once():
    om, ex, j, *_ = make()
    a = om.submit(OrderIntent(SYM, "buy", 1.0, client_id="mine-1"))
    b = om.submit(OrderIntent(SYM, "buy", 1.0, client_id="mine-1"))
    assert a is b and len(ex.seen) == 1 and len(j.orders()) == 1


def test_duplicate_fill_report_is_applied_once():
    om, ex, j, *_ = make()
    o = om.submit(OrderIntent(SYM, "buy", 2.0))
    ex.fill(o.client_id, 1.0, 100.0, fill_id="f1")
    ex.fill(o.client_id, 1.0, 100.0, fill_id="f1")
    assert o.filled == 1.0 and len(j.fills()) == 1 and om.portfolio.positions[SYM].amount == 1.0


def test_journal_is_written_before_the_executor_and_before_fills_are_announced():
    j = SqliteJournal()
    om, ex, j, clock, events = make(journal=j)
    seen_in_journal = []
    om.emit = lambda t, p: seen_in_journal.append(
        (t, any(f.fill_id == p.fill_id for f in j.fills())) if t == "fill" else (t, None))
    o = om.submit(OrderIntent(SYM, "buy", 1.0))
    assert ex.status_in_journal == [S.SUBMITTED]
    ex.fill(o.client_id, 1.0, 100.0)
    assert ("fill", True) in seen_in_journal
    assert j.positions()[0].amount == 1.0


def test_timestamps_come_from_the_market_clock():
    om, ex, j, clock, _ = make()
    clock[0] = T0 + 5_000
    o = om.submit(OrderIntent(SYM, "buy", 1.0))
    assert o.created_ts == T0 + 5_000 and [e[0] for e in j.order_events(o.client_id)] == [T0 + 5_000] * 2


def test_risk_reject_never_reaches_the_executor():
    om, ex, j, _, events = make([Fixed({"action": "reject"})])
    o = om.submit(OrderIntent(SYM, "buy", 1.0))
    assert o.status is S.REJECTED and o.reason == "fixed: no" and ex.seen == []
    assert ("error", {"message": "fixed: no", "client_id": o.client_id}) in events


def test_strictest_verdict_wins():
    om, ex, *_ = make([Fixed({"action": "resize", "amount": 0.5}), Fixed({"action": "resize", "amount": 0.3})])
    o = om.submit(OrderIntent(SYM, "buy", 1.0))
    assert o.amount == 0.3 and ex.seen[0].amount == 0.3 and "resized by fixed" in o.reason
    om, ex, *_ = make([Fixed({"action": "resize", "amount": 0.5}), Fixed({"action": "reject"})])
    assert om.submit(OrderIntent(SYM, "buy", 1.0)).status is S.REJECTED


def test_a_raising_rule_fails_closed():
    om, ex, *_ = make([Fixed({"action": "raise"})])
    o = om.submit(OrderIntent(SYM, "buy", 1.0))
    assert o.status is S.REJECTED and "rule failed: boom" in o.reason and not ex.seen


def test_unknown_rule_option_is_a_config_error():
    with pytest.raises(ValueError, match=r"\[risk.fixed\] has no option 'colour'"):
        Fixed({"colour": 1})


def test_halt_blocks_until_reset_but_lets_reduce_only_through():
    halter = Halter({"action": "reject"})
    om, ex, j, *_ = make([halter])
    assert om.submit(OrderIntent(SYM, "buy", 1.0)).status is S.REJECTED
    assert om.halted.startswith("halter") and j.get_account("halt").startswith("halter")
    halter.options["action"] = "allow"
    o = om.submit(OrderIntent(SYM, "buy", 1.0))
    assert o.status is S.REJECTED and "trading is halted" in o.reason
    om.portfolio.position(SYM).amount = 2.0  # a position to reduce
    om.portfolio.positions[SYM].entry_price = 100.0
    assert om.submit(OrderIntent(SYM, "sell", 1.0, reduce_only=True)).status is S.SUBMITTED
    om.reset_halt()
    assert om.submit(OrderIntent(SYM, "buy", 1.0)).status is S.SUBMITTED and j.get_account("halt") == ""


def test_reduce_only_is_clamped_and_needs_a_position():
    om, ex, *_ = make()
    o = om.submit(OrderIntent(SYM, "sell", 1.0, reduce_only=True))
    assert o.status is S.REJECTED and "no BTC/USDT:USDT position to reduce" in o.reason
    b = om.submit(OrderIntent(SYM, "buy", 0.4))
    ex.fill(b.client_id, 0.4, 100.0)
    o = om.submit(OrderIntent(SYM, "sell", 5.0, reduce_only=True))
    assert o.amount == pytest.approx(0.4)


@pytest.mark.parametrize("intent, msg", [
    (OrderIntent(SYM, "buy", 0.0), "must be positive"),
    (OrderIntent(SYM, "buy", float("nan")), "must be positive"),
    (OrderIntent(SYM, "buy", 1.0, OrderType.LIMIT), "needs a positive price"),
    (OrderIntent(SYM, "buy", 1.0, OrderType.STOP), "needs a positive stop price"),
])
def test_invalid_intents_are_rejected_with_a_reason(intent, msg):
    om, ex, *_ = make()
    o = om.submit(intent)
    assert o.status is S.REJECTED and msg in o.reason and not ex.seen


def test_restore_rebuilds_orders_fills_positions_and_cash(tmp_path):
    path = tmp_path / "j.db"
    om, ex, j, clock, _ = make(journal=SqliteJournal(path))
    a = om.submit(OrderIntent(SYM, "buy", 2.0))
    ex.fill(a.client_id, 2.0, 100.0, fee=0.1)
    b = om.submit(OrderIntent(SYM, "sell", 1.0, OrderType.LIMIT, price=120.0))
    ex.fill(b.client_id, 0.25, 120.0, fee=0.01)
    c = om.submit(OrderIntent("ETH/USDT", "buy", 3.0, OrderType.LIMIT, price=10.0))
    before = (om.portfolio.cash, {s: (p.amount, p.entry_price, p.realized_pnl, p.fees)
                                  for s, p in om.portfolio.positions.items()})
    j.close()

    j2 = SqliteJournal(path)
    ex2 = Recorder(j2)
    om2 = OrderManager(j2, Portfolio(10_000.0), {"rec": ex2}, [], lambda: T0 + 1, default_executor="rec")
    rep = om2.restore()
    assert rep.open_orders == sorted([b.client_id, c.client_id]) and rep.fills == 2
    assert om2.orders[b.client_id].filled == pytest.approx(0.25)
    assert om2.orders[b.client_id].status is S.PARTIALLY_FILLED
    after = (om2.portfolio.cash, {s: (p.amount, p.entry_price, p.realized_pnl, p.fees)
                                  for s, p in om2.portfolio.positions.items()})
    assert after == before
    # a non-volatile venue that lost the orders: surfaced, not silently re-sent
    rec = om2.reconcile()
    assert rec.missing == sorted([b.client_id, c.client_id]) and rec.resubmitted == [] and not ex2.seen
    # the next id continues the sequence: nothing reused
    assert om2.submit(OrderIntent(SYM, "buy", 1.0)).client_id == "vt-000004"


def test_reconcile_reports_unknown_orders():
    om, ex, *_ = make()
    ex.live.add("stranger-1")
    assert om.reconcile().unknown == ["stranger-1"]


def test_reconcile_compares_venue_positions_with_the_journal():
    om, ex, *_ = make()
    assert om.reconcile().positions == []  # an executor without positions() has nothing to compare
    ex.positions = lambda: {SYM: 0.0, "ETH/USDT:USDT": 0.0}
    a = om.submit(OrderIntent(SYM, "buy", 0.3))
    ex.fill(a.client_id, 0.3, 100.0)
    ex.live.discard(a.client_id)
    venue = {SYM: 0.3, "ETH/USDT:USDT": 0.0}
    ex.positions = lambda: venue
    assert om.reconcile().positions == []  # the venue agrees with our fills
    venue[SYM] = 0.3 * (1 + 1e-9)  # the venue's decimal rounding of the same size: not a difference
    assert om.reconcile().positions == []
    alerts = []
    om.emit = lambda topic, payload: alerts.append(payload) if topic == "alert" else None
    venue.update({SYM: -0.2, "ETH/USDT:USDT": 1.5})  # someone traded at the venue behind our back
    report = om.reconcile()
    assert report.positions == ["BTC/USDT:USDT: venue -0.2, journal +0.3", "ETH/USDT:USDT: venue +1.5, journal +0"]
    assert [a.message.split(":")[0] for a in alerts] == ["position BTC/USDT", "position ETH/USDT"]
    assert om.portfolio.positions[SYM].amount == pytest.approx(0.3)  # surfaced, never silently "fixed"


def test_interrupted_new_order_is_rejected_on_restore():
    j = SqliteJournal()
    om, ex, *_ = make(journal=j)
    from virtuoso_tui.model import Order
    j.upsert_order(Order("vt-000009", SYM, "buy", OrderType.MARKET, 1.0, created_ts=T0))
    om2 = OrderManager(j, Portfolio(), {"rec": Recorder()}, [], lambda: T0, default_executor="rec")
    rep = om2.restore()
    assert rep.interrupted == ["vt-000009"] and om2.orders["vt-000009"].status is S.REJECTED


def test_volatile_paper_executor_gets_open_orders_replaced_after_restore():
    j = SqliteJournal()
    book = ArrayBook(SYM, [[100.0, 1.0], [99.0, 5.0]], [[101.0, 1.0]])
    p1 = PaperExecutor({})
    om = OrderManager(j, Portfolio(), {"paper": p1}, [], lambda: T0)
    p1.on_book(book)
    o = om.submit(OrderIntent(SYM, "buy", 1.0, OrderType.LIMIT, price=99.0))
    assert p1.open_ids() == {o.client_id}
    p2 = PaperExecutor({})
    p2.on_book(book)
    om2 = OrderManager(j, Portfolio(), {"paper": p2}, [], lambda: T0)
    om2.restore()
    rep = om2.reconcile()
    assert rep.resubmitted == [o.client_id] and p2.open_ids() == {o.client_id}


def test_halting_rules_are_watched_on_each_equity_sample():
    from virtuoso_risk.rules import MaxDailyLoss

    om, ex, j, clock, events = make([MaxDailyLoss({"pct": 5.0})], cash=10_000.0)
    om.update_equity(T0)
    o = om.submit(OrderIntent(SYM, "buy", 10.0))
    ex.fill(o.client_id, 10.0, 100.0)
    om.portfolio.mark(SYM, 90.0)  # -100: 1% down, trading goes on
    om.update_equity(T0 + 60_000)
    assert om.halted == ""
    om.portfolio.mark(SYM, 40.0)  # -600: 6% down since the start of the day
    om.update_equity(T0 + 120_000)
    assert om.halted.startswith("max_daily_loss: daily loss 600.00")
    assert any(t == "alert" and p.level == "error" and "trading halted" in p.message for t, p in events)
    assert j.get_account("halt") == om.halted
