"""The command language: ONE parser for the TUI command bar and headless stdin.

`parse(line, selected_symbol, plugin_verbs)` turns a line into a typed command (PlaceOrder, Close,
Cancel, Amend, Algo, ShowRisk, ResetRisk, Kill, Help, PluginCall) or raises CommandError with one clear
sentence; nothing is sent on an error. The TradingDesk (trading/desk.py) carries the typed command
out through the order manager. Plugins add verbs with `Command` instances from the
`virtuoso_commands` hook; the parser hands them their raw argument words.

Grammar (HELP below is the user's copy of it):

    buy|sell SIZE [SYMBOL] [@ PRICE] [stop PRICE [limit PRICE]] [reduce] [post] [ioc|fok|for DURATION]
      SIZE   0.01 (base units) | $500 (quote notional) | 5% (of equity)
    close [SYMBOL|all]        cancel ID|all        amend ID [@ PRICE] [SIZE]
    twap|vwap buy|sell SIZE [SYMBOL] over DURATION [slices N]
    iceberg buy|sell SIZE [SYMBOL] @ PRICE show DISPLAY
    split buy|sell SIZE [SYMBOL] bps MAX_BPS [every DURATION]    (impact-aware splitting)
    risk [reset]              kill              help [VERB]

A SYMBOL is any word with a "/" (ccxt unified: BTC/USDT, BTC/USDT:USDT); without one the selected
symbol is used. DURATION is a number with s, m or h (30s, 10m, 1h).

Time in force (at most one; default good till cancelled): `ioc` and `fok` apply to limit orders only
(`buy 0.5 @ 64000 ioc`): a market order already takes what the book has and drops the rest, so `ioc`
on it would say nothing and `fok` would need a price bound to mean anything: both are refused
rather than guessed at; on stops they are refused too (the venues we trade do not agree on what they
mean once a stop triggers). `for DURATION` (good till time, `buy 0.5 @ 64000 for 10m`) applies to the
orders that rest (limit, stop, stop-limit); the desk turns it into an expiry at the current MARKET
time + DURATION. `post` with `ioc`/`fok` is refused as contradictory (post-only must rest, they never
do). The semantics are in trading/orders.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from virtuoso_tui.model import OrderType

if TYPE_CHECKING:
    from collections.abc import Mapping

SizeKind = Literal["base", "quote", "percent"]

USAGE: dict[str, str] = {
    "buy": "buy SIZE [SYMBOL] [@ PRICE] [stop PRICE [limit PRICE]] [reduce] [post] [ioc|fok|for DURATION]",
    "sell": "sell SIZE [SYMBOL] [@ PRICE] [stop PRICE [limit PRICE]] [reduce] [post] [ioc|fok|for DURATION]",
    "close": "close [SYMBOL|all]",
    "cancel": "cancel ID|all",
    "amend": "amend ID [@ PRICE] [SIZE]",
    "twap": "twap buy|sell SIZE [SYMBOL] over DURATION [slices N]",
    "vwap": "vwap buy|sell SIZE [SYMBOL] over DURATION [slices N]",
    "iceberg": "iceberg buy|sell SIZE [SYMBOL] @ PRICE show DISPLAY",
    "split": "split buy|sell SIZE [SYMBOL] bps MAX_BPS [every DURATION]",
    "risk": "risk [reset]",
    "kill": "kill",
    "help": "help [VERB]",
}

HELP: dict[str, str] = {
    "buy": "Buy at market, or with '@ PRICE' a limit order, 'stop P' a stop-market, 'stop P limit L' a "
           "stop-limit. SIZE is base units (0.01), quote notional ($500) or % of equity (5%). Flags: "
           "'reduce' (reduce-only), 'post' (post-only, limit orders only). Time in force (default: good "
           "till cancelled): 'ioc' fills what the book has now and expires the rest, 'fok' fills all of it "
           "now or expires with no fill (both limit orders only, not with 'post'); 'for 10m' expires a "
           "resting limit or stop order after that much market time.",
    "sell": "Sell; same forms as buy.",
    "close": "Flatten the position in SYMBOL (default: the selected symbol) with a reduce-only market "
             "order; 'close all' flattens every position.",
    "cancel": "Cancel one open order by its client id, or every open order with 'cancel all'.",
    "amend": "Change an open order in place: '@ PRICE' a new limit price, SIZE a new total size (base, "
             "$ notional or % of equity; what has filled stays filled). Risk rules check the new order.",
    "twap": "Slice SIZE into N equal market orders spread evenly over DURATION (default N: one per minute).",
    "vwap": "Slice SIZE over DURATION following the volume profile of recent candles.",
    "iceberg": "Work a limit order at PRICE showing only DISPLAY at a time until SIZE is done.",
    "split": "Send market slices no larger than the book can absorb within MAX_BPS of slippage.",
    "risk": "Show every risk limit and how much of it is used; 'risk reset' lifts a trading halt.",
    "kill": "Cancel every open order and algorithm, then flatten every position.",
    "help": "List the verbs, or explain one.",
}


class CommandError(Exception):
    """A command the user typed cannot be carried out; the message is one sentence, nothing was sent."""


@dataclass(frozen=True, slots=True)
class Size:
    """An order size as typed: base units, quote notional, or percent of equity."""

    kind: SizeKind
    value: float

    def to_base(self, price: float | None, equity: float) -> float:
        """Base amount at `price` (quote per base); CommandError when a price is needed and unknown."""
        if self.kind == "base":
            return self.value
        if price is None or not price > 0:
            raise CommandError(f"cannot size {self} without a market price; wait for market data")
        if self.kind == "quote":
            return self.value / price
        return equity * self.value / 100.0 / price

    def __str__(self) -> str:
        return {"base": f"{self.value:g}", "quote": f"${self.value:g}", "percent": f"{self.value:g}%"}[self.kind]


@dataclass(frozen=True, slots=True)
class PlaceOrder:
    side: Literal["buy", "sell"]
    size: Size
    symbol: str
    type: OrderType = OrderType.MARKET
    price: float | None = None
    stop_price: float | None = None
    reduce_only: bool = False
    post_only: bool = False
    time_in_force: Literal["gtc", "ioc", "fok", "gtt"] = "gtc"
    expire_after_ms: int | None = None  # gtt: market time from placement to expiry


@dataclass(frozen=True, slots=True)
class Close:
    symbol: str | None  # None = every position


@dataclass(frozen=True, slots=True)
class Cancel:
    client_id: str | None  # None = every open order


@dataclass(frozen=True, slots=True)
class Amend:
    client_id: str
    price: float | None = None
    size: Size | None = None  # the new TOTAL size


@dataclass(frozen=True, slots=True)
class Algo:
    kind: Literal["twap", "vwap", "iceberg", "split"]
    side: Literal["buy", "sell"]
    size: Size
    symbol: str
    duration_ms: int | None = None
    slices: int | None = None
    price: float | None = None
    display: float | None = None
    max_bps: float | None = None
    interval_ms: int | None = None


@dataclass(frozen=True, slots=True)
class ShowRisk:
    pass


@dataclass(frozen=True, slots=True)
class ResetRisk:
    pass


@dataclass(frozen=True, slots=True)
class Kill:
    pass


@dataclass(frozen=True, slots=True)
class Help:
    verb: str | None = None


@dataclass(frozen=True, slots=True)
class PluginCall:
    command: Command
    args: tuple[str, ...]


ParsedCommand = PlaceOrder | Close | Cancel | Amend | Algo | ShowRisk | ResetRisk | Kill | Help | PluginCall


class Command:
    """Base class of a verb contributed by a plugin through the `virtuoso_commands` hook.

    `run(args, ctx)` gets the words after the verb and a context (the TradingDesk) and returns the line
    shown to the user, or raises CommandError with one sentence. Orders a plugin wants go through
    `ctx.submit(intent)`, i.e. through sizing and every risk rule like any other order.
    """

    verb: ClassVar[str] = ""
    usage: ClassVar[str] = ""
    help: ClassVar[str] = ""

    def run(self, args: list[str], ctx: Any) -> str:
        raise NotImplementedError


@dataclass(slots=True)
class _Words:
    """The words of one command with a cursor, so each parse step consumes what it understands."""

    verb: str
    words: list[str]
    i: int = 0
    seen: set[str] = field(default_factory=set)

    def more(self) -> bool:
        return self.i < len(self.words)

    def peek(self) -> str:
        return self.words[self.i].lower()

    def take(self) -> str:
        w = self.words[self.i]
        self.i += 1
        return w

    def value(self, what: str) -> str:
        if not self.more():
            raise CommandError(f"'{self.verb}' expects {what} after '{self.words[self.i - 1]}'; usage: {USAGE[self.verb]}")
        return self.take()

    def once(self, key: str) -> None:
        if key in self.seen:
            raise CommandError(f"'{key}' is given twice in the {self.verb} command")
        self.seen.add(key)


def _number(text: str, what: str) -> float:
    try:
        x = float(text.replace(",", "").replace("_", ""))
    except ValueError:
        raise CommandError(f"{what} must be a number, not {text!r}") from None
    if not math.isfinite(x) or x <= 0:
        raise CommandError(f"{what} must be a positive number, not {text!r}")
    return x


def parse_size(text: str) -> Size:
    """`0.01` base, `$500` quote notional, `5%` of equity; CommandError otherwise."""
    if text.startswith("$"):
        return Size("quote", _number(text[1:], "the quote notional after '$'"))
    if text.endswith("%"):
        pct = _number(text[:-1], "the percent of equity")
        if pct > 100:
            raise CommandError(f"a size of {text} is more than all the equity; use at most 100%")
        return Size("percent", pct)
    if "/" in text:
        raise CommandError(f"the size must come before the symbol, e.g. 'buy 0.01 {text}'")
    return Size("base", _number(text, "the size"))


def parse_duration_ms(text: str) -> int:
    """`30s`, `10m`, `1h` (also `1.5h`) -> milliseconds."""
    units = {"s": 1000, "m": 60_000, "h": 3_600_000}
    unit = text[-1:].lower()
    if unit not in units:
        raise CommandError(f"the duration {text!r} needs a unit: s, m or h (e.g. 10m)")
    return int(round(_number(text[:-1], "the duration") * units[unit]))


def _is_symbol(word: str) -> bool:
    return "/" in word


def _symbol(words: _Words, selected: str | None) -> str:
    if words.more() and _is_symbol(words.peek()):
        return words.take().upper()
    if not selected:
        raise CommandError(f"no symbol given and none selected; add one, e.g. '{words.verb} ... BTC/USDT'")
    return selected


def _side(words: _Words) -> Literal["buy", "sell"]:
    if not words.more():
        raise CommandError(f"'{words.verb}' needs a side (buy or sell); usage: {USAGE[words.verb]}")
    side = words.take().lower()
    if side not in ("buy", "sell"):
        raise CommandError(f"'{words.verb}' needs buy or sell, not {side!r}; usage: {USAGE[words.verb]}")
    return side  # type: ignore[return-value]


def _unknown(words: _Words) -> CommandError:
    return CommandError(f"unexpected {words.words[words.i]!r} in the {words.verb} command; usage: {USAGE[words.verb]}")


def _parse_order(words: _Words, selected: str | None) -> PlaceOrder:
    side = words.verb
    if not words.more():
        raise CommandError(f"'{side}' needs a size; usage: {USAGE[side]}")
    size = parse_size(words.take())
    symbol = _symbol(words, selected)
    price = stop = stop_limit = None
    reduce = post = False
    tif, tif_word, expire_after = "gtc", "", None
    while words.more():
        w = words.peek()
        if w == "@" or (w.startswith("@") and len(w) > 1):
            words.once("@")
            words.take()
            price = _number(w[1:] if len(w) > 1 else words.value("a price"), "the limit price")
        elif w == "stop":
            words.once("stop")
            words.take()
            stop = _number(words.value("a stop price"), "the stop price")
            if words.more() and words.peek() == "limit":
                words.take()
                stop_limit = _number(words.value("a limit price"), "the stop-limit price")
        elif w == "reduce":
            words.once("reduce")
            words.take()
            reduce = True
        elif w == "post":
            words.once("post")
            words.take()
            post = True
        elif w in ("ioc", "fok", "for"):
            if tif_word:
                raise CommandError(f"give one time in force, not both '{tif_word}' and '{w}'")
            tif_word = w
            words.take()
            if w == "for":
                tif, expire_after = "gtt", parse_duration_ms(words.value("a duration like 10m"))
            else:
                tif = w
        elif _is_symbol(w):
            raise CommandError(f"the symbol goes right after the size, e.g. '{side} {size} {w.upper()}'")
        else:
            raise _unknown(words)
    if stop is not None and price is not None:
        raise CommandError("a stop order cannot also take '@ PRICE'; write 'stop P limit L' for a stop-limit")
    if stop is not None:
        otype = OrderType.STOP_LIMIT if stop_limit is not None else OrderType.STOP
        price = stop_limit
    else:
        otype = OrderType.LIMIT if price is not None else OrderType.MARKET
    if post and otype is not OrderType.LIMIT:
        raise CommandError("'post' (post-only) applies only to limit orders; add '@ PRICE'")
    if tif in ("ioc", "fok"):
        if otype is OrderType.MARKET:
            raise CommandError(f"'{tif}' applies only to limit orders; add '@ PRICE' (a market order already "
                               "fills what the book has and drops the rest)")
        if otype is not OrderType.LIMIT:
            raise CommandError(f"'{tif}' applies only to limit orders, not to a {otype.value.replace('_', '-')} order")
        if post:
            raise CommandError(f"'post' and '{tif}' contradict each other: a post-only order must rest, "
                               f"an {tif} order never does")
    if tif == "gtt" and otype is OrderType.MARKET:
        raise CommandError("'for DURATION' applies only to orders that rest (limit, stop, stop-limit); "
                           "a market order fills at once")
    return PlaceOrder(side, size, symbol, otype, price, stop, reduce, post, tif, expire_after)  # type: ignore[arg-type]


def _parse_algo(words: _Words, selected: str | None) -> Algo:
    kind = words.verb
    side = _side(words)
    if not words.more():
        raise CommandError(f"'{kind}' needs a size; usage: {USAGE[kind]}")
    size = parse_size(words.take())
    symbol = _symbol(words, selected)
    opts: dict[str, Any] = {}
    allowed = {"twap": {"over", "slices"}, "vwap": {"over", "slices"}, "iceberg": {"@", "show"},
               "split": {"bps", "every"}}[kind]
    while words.more():
        w = words.peek()
        key = "@" if w.startswith("@") else w
        if key not in allowed:
            raise _unknown(words)
        words.once(key)
        words.take()
        if key == "@":
            opts["price"] = _number(w[1:] if len(w) > 1 else words.value("a price"), "the limit price")
        elif key == "over":
            opts["duration_ms"] = parse_duration_ms(words.value("a duration"))
        elif key == "every":
            opts["interval_ms"] = parse_duration_ms(words.value("a duration"))
        elif key == "slices":
            n = _number(words.value("a slice count"), "the slice count")
            if n != int(n):
                raise CommandError(f"the slice count must be a whole number, not {n:g}")
            opts["slices"] = int(n)
        elif key == "show":
            opts["display"] = _number(words.value("a display size"), "the display size")
        elif key == "bps":
            opts["max_bps"] = _number(words.value("a slippage limit in bps"), "the slippage limit")
    if kind in ("twap", "vwap") and "duration_ms" not in opts:
        raise CommandError(f"'{kind}' needs a duration, e.g. 'over 10m'; usage: {USAGE[kind]}")
    if kind == "iceberg":
        if "price" not in opts or "display" not in opts:
            raise CommandError(f"'iceberg' needs '@ PRICE' and 'show DISPLAY'; usage: {USAGE[kind]}")
        if size.kind == "base" and opts["display"] > size.value:
            raise CommandError("the iceberg's display size is larger than its total size")
    if kind == "split" and "max_bps" not in opts:
        raise CommandError(f"'split' needs a slippage limit, e.g. 'bps 5'; usage: {USAGE[kind]}")
    return Algo(kind, side, size, symbol, **opts)  # type: ignore[arg-type]


def _parse_amend(words: _Words) -> Amend:
    """`amend ID [@ PRICE] [SIZE]`, in either order after the id; at least one of the two."""
    if not words.more():
        raise CommandError(f"'amend' needs the order id; usage: {USAGE['amend']}")
    client_id = words.take()
    price: float | None = None
    size: Size | None = None
    while words.more():
        w = words.peek()
        if w == "@" or w.startswith("@"):
            words.once("@")
            words.take()
            text = w[1:] if len(w) > 1 else words.value("a price")
            price = _number(text, "the price")
        elif size is None:
            size = parse_size(words.take())
        else:
            raise _unknown(words)
    if price is None and size is None:
        raise CommandError(f"'amend' needs a new price ('@ PRICE'), a new size, or both; usage: {USAGE['amend']}")
    return Amend(client_id, price, size)


def parse(line: str, selected_symbol: str | None = None,
          plugin_verbs: Mapping[str, Command] | None = None) -> ParsedCommand:
    """Parse one command line; CommandError (one sentence) on anything it cannot carry out."""
    parts = line.split()
    if not parts:
        raise CommandError("empty command; type 'help' for the verbs")
    verb = parts[0].lower()
    plugin_verbs = plugin_verbs or {}
    if verb not in USAGE:
        if verb in plugin_verbs:
            return PluginCall(plugin_verbs[verb], tuple(parts[1:]))
        known = ", ".join([*USAGE, *sorted(plugin_verbs)])
        raise CommandError(f"unknown command {parts[0]!r}; the verbs are: {known}")
    words = _Words(verb, parts[1:])
    if verb in ("buy", "sell"):
        return _parse_order(words, selected_symbol)
    if verb in ("twap", "vwap", "iceberg", "split"):
        return _parse_algo(words, selected_symbol)
    if verb == "close":
        if not words.more():
            return Close(_symbol(words, selected_symbol))
        w = words.take()
        if len(parts) > 2:
            raise CommandError(f"'close' takes one symbol or 'all'; usage: {USAGE['close']}")
        if w.lower() == "all":
            return Close(None)
        if not _is_symbol(w):
            raise CommandError(f"'close' takes a symbol like BTC/USDT or 'all', not {w!r}")
        return Close(w.upper())
    if verb == "cancel":
        if len(parts) != 2:
            raise CommandError(f"'cancel' takes one order id or 'all'; usage: {USAGE['cancel']}")
        return Cancel(None if parts[1].lower() == "all" else parts[1])
    if verb == "amend":
        return _parse_amend(words)
    if verb == "risk":
        if len(parts) == 1:
            return ShowRisk()
        if len(parts) == 2 and parts[1].lower() == "reset":
            return ResetRisk()
        raise CommandError(f"'risk' takes nothing or 'reset'; usage: {USAGE['risk']}")
    if verb == "kill":
        if len(parts) > 1:
            raise CommandError("'kill' takes no arguments; it cancels everything and flattens")
        return Kill()
    # help
    if len(parts) > 2:
        raise CommandError(f"'help' takes at most one verb; usage: {USAGE['help']}")
    if len(parts) == 2:
        v = parts[1].lower()
        if v not in USAGE and v not in plugin_verbs:
            raise CommandError(f"no help for unknown command {parts[1]!r}")
        return Help(v)
    return Help(None)


def help_text(verb: str | None = None, plugin_verbs: Mapping[str, Command] | None = None) -> str:
    """The help shown for `help` (every verb's usage) or `help VERB` (usage and explanation)."""
    plugin_verbs = plugin_verbs or {}
    if verb is None:
        lines = [USAGE[v] for v in USAGE] + [c.usage or c.verb for c in plugin_verbs.values()]
        return "\n".join(lines)
    if verb in USAGE:
        return f"{USAGE[verb]}\n{HELP[verb]}"
    cmd = plugin_verbs[verb]
    return f"{cmd.usage or cmd.verb}\n{cmd.help}"
