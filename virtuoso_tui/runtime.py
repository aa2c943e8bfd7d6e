"""Builds a running Virtuoso from settings: the plugin host, the chosen source, the prism, the trading
desk, storage and the engine, wired through one EventBus. The CLI, the TUI and the tests all start
Virtuoso through `build_runtime`, so there is one way the house is put together.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from virtuoso_tui.bus import EventBus
from virtuoso_tui.engine import Engine
from virtuoso_tui.market.source import Source, SourceError
from virtuoso_tui.plugins import PluginHost

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Any
    host: PluginHost
    bus: EventBus
    engine: Engine
    source: Source
    storage: Any = None
    prism: Any = None
    desk: Any = None
    mode: str = "SIM"
    theme: str = "dark"
    problems: list[str] = field(default_factory=list)

    def close(self) -> None:
        if self.storage is not None and hasattr(self.storage, "close"):
            self.storage.close()


def build_host(settings: Any, plugins_dirs: Iterable[str] = (), *, entry_points: bool = True) -> PluginHost:
    p = settings.plugins
    return PluginHost.load(
        allow=p.allow, block=p.block, plugins_dirs=plugins_dirs, trace=p.trace, entry_points=entry_points,
        plugin_config={name: p.options_for(name) for name in p.options},
    )


def build_source(host: PluginHost, name: str, symbols: Sequence[str], options: dict[str, Any]) -> Source:
    sources = host.registry("virtuoso_sources")
    if name not in sources:
        known = ", ".join(sorted(sources)) or "none"
        raise SourceError(f"unknown source {name!r} (available: {known})")
    plugin, cls = sources[name]
    ok, source = host.guard(plugin, f"source {name!r}", cls, symbols, options)
    if not ok:
        raise SourceError(f"source {name!r} from plugin {plugin!r} failed to start: {host.infos[plugin].error}")
    return source


def build_prism(host: PluginHost, settings: Any) -> Any:
    from virtuoso_tui.prism.engine import build_prism as _build

    return _build(host, settings)


def build_desk(host: PluginHost, settings: Any, storage: Any, bus: EventBus, engine_ref: list,
               live: bool = False) -> Any:
    from virtuoso_tui.trading.desk import build_desk as _build

    return _build(host=host, settings=settings, storage=storage, bus=bus, now=lambda: engine_ref[0].now,
                  states=lambda: engine_ref[0].states, live=live)


#: higher-timeframe candles the warm-up aims for: enough for MACD(26,9), AO(34) and swing pivots
WARMUP_CANDLES = 150
MAX_WARMUP_BARS = 50_000


def history_bars(timeframes: Sequence[str]) -> int:
    """Base candles to load so the highest timeframe has WARMUP_CANDLES candles (capped)."""
    from virtuoso_tui.model import timeframe_ms

    ratio = timeframe_ms(timeframes[-1]) // timeframe_ms(timeframes[0])
    return int(min(MAX_WARMUP_BARS, WARMUP_CANDLES * ratio))


def build_runtime(
    settings: Any = None,
    *,
    source: str | None = None,
    symbols: Sequence[str] | None = None,
    seed: int | None = None,
    speed: float | None = None,
    plugins_dirs: Iterable[str] = (),
    db_path: str | None = None,
    theme: str | None = None,
    with_prism: bool = True,
    with_trading: bool = True,
    source_options: dict[str, Any] | None = None,
    warm_up: bool = True,
    live: bool = False,
) -> Runtime:
    """Put Virtuoso together. Arguments override the settings (they come from CLI flags)."""
    from virtuoso_tui.config import load_config

    if settings is None:
        settings = load_config()
    host = build_host(settings, plugins_dirs)
    bus = EventBus()
    source_name = source or settings.source.name
    symbols = list(symbols or settings.general.symbols)
    options = settings.source_options(source_name)
    options.setdefault("seed", settings.general.seed if seed is None else seed)
    if seed is not None:
        options["seed"] = seed
    options["speed"] = settings.source.speed if speed is None else speed
    options.update(source_options or {})
    src = build_source(host, source_name, symbols, options)

    storage = None
    path = settings.storage.path if db_path is None else db_path
    if path:
        from virtuoso_tui.storage import Storage

        storage = Storage(path, retention_days=settings.storage.retention_days, record=settings.storage.record)

    prism = build_prism(host, settings) if with_prism else None
    tf = settings.timeframes
    timeframes = list(dict.fromkeys([tf.base, tf.ltf, tf.mtf, "1h", tf.htf]))
    engine_ref: list[Engine] = []
    desk = build_desk(host, settings, storage, bus, engine_ref, live=live) if with_trading else None
    engine = Engine(
        source=src, symbols=symbols, bus=bus, timeframes=timeframes, prism=prism, desk=desk,
        storage=storage, host=host, record=settings.storage.record,
        history_bars=history_bars(timeframes) if warm_up else 0,
    )
    engine_ref.append(engine)
    from virtuoso_tui.monitor import Monitor

    Monitor(host, bus, storage)
    bus.subscribe("alert", lambda _t, alert: host.notify("virtuoso_on_alert", alert=alert))
    bus.subscribe("fill", lambda _t, fill: host.notify("virtuoso_on_fill", fill=fill))
    live_on = live and bool(getattr(settings.live, "enabled", False)) and desk is not None
    mode = "LIVE" if live_on else ("SIM" if source_name == "sim" else "PAPER")
    return Runtime(
        settings=settings, host=host, bus=bus, engine=engine, source=src, storage=storage, prism=prism,
        desk=desk, mode=mode, theme=theme or settings.ui.theme, problems=list(host.problems),
    )
