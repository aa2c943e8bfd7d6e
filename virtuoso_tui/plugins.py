"""The plugin host: one pluggy PluginManager for the whole process.

Built-in plugins (plugins/virtuoso_*) and third-party distributions are found the same way, through
entry points in the group "virtuoso"; `--plugins-dir DIR` adds drop-in `*.py` files. Operators get an
allow list, a block list and a trace mode. A plugin that raises on import, implements a hook that does
not exist, or raises inside a hook is isolated: marked failed with its error, skipped from then on,
and the rest carries on. `virtuoso plugins` prints `PluginHost.report()`.

Hooks are called through `collect()` (registration hooks: lists gathered per plugin) and `notify()`
(notification hooks), which call each implementation separately so one failure cannot hide another
plugin's result, and pass keyword arguments only.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import importlib.util
import logging
import sys
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pluggy

from virtuoso_tui import PROJECT, hookspecs

log = logging.getLogger(__name__)

BUILTIN_DISTRIBUTION = "virtuoso-tui"


@dataclass(slots=True)
class PluginInfo:
    """What `virtuoso plugins` shows for one plugin."""

    name: str
    origin: str  # "builtin", "entry point (dist x.y)", "file /path/x.py"
    version: str = ""
    hooks: list[str] = field(default_factory=list)
    status: str = "ok"  # ok | failed | blocked | not allowed | disabled
    error: str = ""

    @property
    def healthy(self) -> bool:
        return self.status == "ok"


class PluginHost:
    """Loads, isolates and calls plugins. Build one per process with `PluginHost.load(...)`."""

    def __init__(
        self,
        *,
        allow: Sequence[str] = (),
        block: Sequence[str] = (),
        trace: bool = False,
        plugin_config: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.allow = set(allow)
        self.plugin_config = dict(plugin_config or {})
        self.block = set(block)
        self.infos: dict[str, PluginInfo] = {}
        self._failed: set[str] = set()
        self._disabled: dict[str, object] = {}
        self.problems: list[str] = []  # configuration problems found while resolving registries
        if trace:
            self.pm.trace.root.setwriter(lambda msg: log.debug("hook: %s", msg.rstrip()))
            self.pm.enable_tracing()

    # ---------------------------------------------------------------- loading
    @classmethod
    def load(
        cls,
        *,
        allow: Sequence[str] = (),
        block: Sequence[str] = (),
        plugins_dirs: Iterable[str | Path] = (),
        trace: bool = False,
        entry_points: bool = True,
        plugin_config: dict[str, dict[str, Any]] | None = None,
    ) -> PluginHost:
        host = cls(allow=allow, block=block, trace=trace, plugin_config=plugin_config)
        if entry_points:
            host.load_entry_points()
        for directory in plugins_dirs:
            host.load_directory(Path(directory))
        return host

    def _admitted(self, name: str, info: PluginInfo) -> bool:
        if name in self.block:
            info.status = "blocked"
        elif self.allow and name not in self.allow:
            info.status = "not allowed"
        else:
            return True
        self.infos[name] = info
        return False

    def load_entry_points(self) -> None:
        for ep in sorted(md.entry_points(group=PROJECT), key=lambda e: e.name):
            dist = getattr(ep, "dist", None)
            dist_name = dist.metadata["Name"] if dist is not None else ""
            version = dist.version if dist is not None else ""
            builtin = dist_name.lower().replace("_", "-") == BUILTIN_DISTRIBUTION
            origin = "builtin" if builtin else f"entry point ({dist_name} {version})".strip()
            info = PluginInfo(ep.name, origin, version)
            if not self._admitted(ep.name, info):
                continue
            try:
                module = ep.load()
            except BaseException as exc:  # noqa: BLE001 - a plugin must never take the host down
                if isinstance(exc, KeyboardInterrupt):
                    raise
                self._mark_import_failure(info, exc)
                continue
            self.add(module, info)

    def load_directory(self, directory: Path) -> None:
        if not directory.is_dir():
            raise FileNotFoundError(f"plugins directory {directory} does not exist")
        for path in sorted(directory.glob("*.py")):
            if path.name.startswith("_"):
                continue
            name = path.stem
            info = PluginInfo(name, f"file {path}")
            if not self._admitted(name, info):
                continue
            module_name = f"virtuoso_dropin_{name}"
            try:
                spec = importlib.util.spec_from_file_location(module_name, path)
                if spec is None or spec.loader is None:
                    raise ImportError(f"cannot load {path}")
                module = importlib.util.module_from_spec(spec)
                sys.modules[module_name] = module
                spec.loader.exec_module(module)
            except BaseException as exc:  # noqa: BLE001
                if isinstance(exc, KeyboardInterrupt):
                    raise
                sys.modules.pop(module_name, None)
                self._mark_import_failure(info, exc)
                continue
            info.version = str(getattr(module, "__version__", ""))
            self.add(module, info)

    def add(self, plugin: object, info: PluginInfo | str) -> PluginInfo:
        """Register an already-imported plugin object (module or instance) under a name."""
        if isinstance(info, str):
            info = PluginInfo(info, "registered in process")
        if not info.version:
            info.version = str(getattr(plugin, "__version__", ""))
        name = info.name
        if name in self.infos and self.infos[name].status == "ok":
            info.status, info.error = "failed", f"a plugin named {name!r} is already loaded"
            self.infos[f"{name} ({info.origin})"] = info
            return info
        unknown = [
            attr for attr in dir(plugin)
            if attr.startswith("virtuoso_") and callable(getattr(plugin, attr, None))
            and getattr(getattr(plugin, attr), "virtuoso_impl", None) is not None
            and not hasattr(self.pm.hook, attr)
        ]
        if unknown:
            info.status = "failed"
            info.error = f"implements unknown hook {unknown[0]!r} (misspelt?)"
            self.infos[name] = info
            return info
        try:
            self.pm.register(plugin, name=name)
        except Exception as exc:  # PluginValidationError: bad signature and the like
            info.status, info.error = "failed", _one_line(exc)
            self.infos[name] = info
            return info
        info.hooks = sorted(impl_name for impl_name in self._hooks_of(plugin))
        self.infos[name] = info
        return info

    def _hooks_of(self, plugin: object) -> Iterable[str]:
        for caller in self.pm.get_hookcallers(plugin) or ():
            yield caller.name

    def _mark_import_failure(self, info: PluginInfo, exc: BaseException) -> None:
        info.status, info.error = "failed", f"import failed: {_one_line(exc)}"
        self.infos[info.name] = info
        log.warning("plugin %s failed to import: %s", info.name, info.error)
        log.debug("%s", "".join(traceback.format_exception(exc)))

    def mark_failed(self, name: str, error: str) -> None:
        info = self.infos.get(name)
        if info is None:
            info = self.infos[name] = PluginInfo(name, "registered in process")
        if info.status == "ok":
            info.status, info.error = "failed", error
            log.warning("plugin %s failed: %s", name, error)
        self._failed.add(name)

    # ---------------------------------------------------------------- calling
    def _impls(self, hook_name: str):
        caller = getattr(self.pm.hook, hook_name)
        # get_hookimpls() is in registration order (pluggy CALLS them last-first; we want load order)
        for impl in caller.get_hookimpls():
            if impl.plugin_name in self._failed:
                continue
            yield impl

    def _call_one(self, impl, hook_name: str, kwargs: dict[str, Any]) -> tuple[bool, Any]:
        try:
            args = {
                name: kwargs[name] if name in kwargs else self.plugin_config.get(impl.plugin_name, {})
                for name in impl.argnames
            }  # `config` is the only argument the host fills in per plugin
            return True, impl.function(**args)
        except Exception as exc:  # noqa: BLE001 - isolate the plugin, keep the host running
            self.mark_failed(impl.plugin_name, f"{hook_name} raised {_one_line(exc)}")
            log.debug("%s", traceback.format_exc())
            return False, None

    def collect(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call a registration hook on every healthy plugin: [(plugin_name, item), ...] in load order."""
        out: list[tuple[str, Any]] = []
        for impl in self._impls(hook_name):
            ok, result = self._call_one(impl, hook_name, kwargs)
            if not ok or result is None:
                continue
            if isinstance(result, dict):
                result = list(result.values())
            if not isinstance(result, (list, tuple)):
                self.mark_failed(impl.plugin_name, f"{hook_name} must return a list, got {type(result).__name__}")
                continue
            out.extend((impl.plugin_name, item) for item in result)
        return out

    def notify(self, hook_name: str, **kwargs: Any) -> None:
        """Call a notification hook on every healthy plugin; a raising plugin is marked failed."""
        for impl in self._impls(hook_name):
            self._call_one(impl, hook_name, kwargs)

    def guard(self, plugin_name: str, what: str, fn, *args, **kwargs):
        """Run a contributed object's method (a face's score, a rule's check) with isolation.

        Returns (ok, result); on an exception the plugin is marked failed and (False, None) returned."""
        try:
            return True, fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001
            self.mark_failed(plugin_name, f"{what} raised {_one_line(exc)}")
            log.debug("%s", traceback.format_exc())
            return False, None

    def disable(self, name: str) -> None:
        """Stop calling a loaded plugin's hooks (kept aside for `enable`).

        What the plugin already handed over (a running source, built faces) keeps running until restart;
        hooks called from now on (commands, panels, notifications) skip it."""
        info = self.infos.get(name)
        if info is None:
            raise ValueError(f"no plugin named {name!r}")
        if info.status != "ok":
            raise ValueError(f"plugin {name} is {info.status}; only a loaded plugin can be disabled")
        plugin = self.pm.get_plugin(name)
        if plugin is None:
            raise ValueError(f"plugin {name} is not registered")
        self.pm.unregister(name=name)
        self._disabled[name] = plugin
        info.status = "disabled"

    def enable(self, name: str) -> None:
        """Call a disabled plugin's hooks again."""
        info = self.infos.get(name)
        if info is None or name not in self._disabled:
            raise ValueError(f"plugin {name!r} is not disabled")
        self.pm.register(self._disabled.pop(name), name=name)
        info.status = "ok"

    def is_healthy(self, name: str) -> bool:
        return name not in self._failed and self.infos.get(name, PluginInfo(name, "")).status == "ok"

    # ---------------------------------------------------------------- registries
    def registry(self, hook_name: str, overrides: dict[str, str] | None = None) -> dict[str, tuple[str, Any]]:
        """Name -> (plugin, item) for a registration hook whose items have a `name`.

        The first plugin (load order: builtins are loaded like any other, sorted by entry point name)
        to offer a name wins, unless `overrides` maps that name to another plugin, which then replaces it.
        """
        overrides = overrides or {}
        found: dict[str, tuple[str, Any]] = {}
        for plugin, item in self.collect(hook_name):
            name = getattr(item, "name", None) or getattr(item, "verb", None)
            if not name:
                self.mark_failed(plugin, f"{hook_name} returned {item!r} without a name")
                continue
            if name not in found or overrides.get(name) == plugin:
                found[name] = (plugin, item)
            else:
                log.info("%s %r from plugin %s ignored: %s already provides it", hook_name, name, plugin, found[name][0])
        for name, plugin in overrides.items():
            if name in found and found[name][0] != plugin:
                self.problems.append(
                    f"{name!r} is set to come from plugin {plugin!r}, which is not loaded or offers no {name!r}; "
                    f"using the one from {found[name][0]!r}"
                )
        return found

    def report(self) -> list[PluginInfo]:
        return sorted(self.infos.values(), key=lambda i: (i.origin != "builtin", i.name))

    def format_report(self) -> str:
        rows = [("NAME", "VERSION", "ORIGIN", "HEALTH", "HOOKS")]
        for info in self.report():
            health = info.status if not info.error else f"{info.status}: {info.error}"
            hooks = ", ".join(h.removeprefix("virtuoso_") for h in info.hooks) or "-"
            rows.append((info.name, info.version or "-", info.origin, health, hooks))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = ["  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4] for r in rows]
        return "\n".join(lines)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


