"""The plugin host: discovery (built-ins, third-party distributions, drop-in files), isolation of a
plugin that raises anywhere, allow/block lists, and hook documentation."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from virtuoso_tui import hookspecs
from virtuoso_tui.plugins import PluginHost

REPO = Path(__file__).resolve().parents[1]


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_builtins_are_discovered_through_entry_points():
    host = PluginHost.load()
    builtin = {i.name for i in host.report() if i.origin == "builtin"}
    assert {"alerts"} <= builtin
    alerts = host.infos["alerts"]
    assert alerts.healthy
    assert "virtuoso_alert_rules" in alerts.hooks
    names = [rule.name for _, rule in host.collect("virtuoso_alert_rules")]
    assert "signal_flip" in names


def test_third_party_distribution_is_discovered_and_used(tmp_path):
    """A real dist-info with entry_points.txt on sys.path, as pip would leave it, in a fresh interpreter."""
    site = tmp_path / "site"
    _write(site / "acme_virtuoso_face" / "__init__.py", """
        from virtuoso_tui import hookimpl
        from virtuoso_tui.prism.face import Face, FaceResult

        class MoonFace(Face):
            name = "moon"
            default_weight = 0.05
            components = {"phase": 1.0}

            def score(self, state, timeframes):
                return FaceResult("moon", state.symbol, 0, 50.0, 1.0, [])

        @hookimpl
        def virtuoso_faces(config):
            return [MoonFace]
    """)
    dist = site / "acme_virtuoso_face-1.2.3.dist-info"
    _write(dist / "METADATA", "Metadata-Version: 2.1\nName: acme-virtuoso-face\nVersion: 1.2.3\n")
    _write(dist / "entry_points.txt", "[virtuoso]\nacme_moon = acme_virtuoso_face\n")
    _write(dist / "RECORD", "")
    code = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(site)!r})
        from virtuoso_tui.plugins import PluginHost
        host = PluginHost.load()
        info = host.infos["acme_moon"]
        faces = host.registry("virtuoso_faces")
        print(json.dumps({{"origin": info.origin, "version": info.version, "status": info.status,
                          "hooks": info.hooks, "moon": faces["moon"][0]}}))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got == {
        "origin": "entry point (acme-virtuoso-face 1.2.3)",
        "version": "1.2.3",
        "status": "ok",
        "hooks": ["virtuoso_faces"],
        "moon": "acme_moon",
    }


@pytest.fixture
def plugin_dir(tmp_path):
    d = tmp_path / "plugins"
    _write(d / "good.py", """
        from virtuoso_tui import hookimpl
        __version__ = "2.0"
        calls = []

        class Rule:
            name = "always_fine"

        @hookimpl
        def virtuoso_alert_rules(config):
            return [Rule()]

        @hookimpl
        def virtuoso_on_fill(fill):
            calls.append(fill)
    """)
    _write(d / "broken_import.py", """
        raise RuntimeError("cannot find my API key file")
    """)
    _write(d / "raises_everywhere.py", """
        from virtuoso_tui import hookimpl

        @hookimpl
        def virtuoso_alert_rules(config):
            raise ValueError("bad rule table")

        @hookimpl
        def virtuoso_on_fill(fill):
            raise ZeroDivisionError("boom")
    """)
    _write(d / "misspelt.py", """
        from virtuoso_tui import hookimpl

        @hookimpl
        def virtuoso_sourcez(config):
            return []
    """)
    _write(d / "configured.py", """
        from virtuoso_tui import hookimpl

        class Sink:
            def __init__(self, name):
                self.name = name

        @hookimpl
        def virtuoso_alert_sinks(config):
            return [Sink(config.get("target", "default"))]
    """)
    return d


def test_dropin_plugins_are_isolated(plugin_dir):
    host = PluginHost.load(plugins_dirs=[plugin_dir], entry_points=False)
    infos = host.infos
    assert infos["good"].healthy and infos["good"].version == "2.0"
    assert infos["good"].origin == f"file {plugin_dir / 'good.py'}"
    assert infos["broken_import"].status == "failed"
    assert infos["broken_import"].error == "import failed: RuntimeError: cannot find my API key file"
    assert infos["misspelt"].status == "failed"
    assert "unknown hook 'virtuoso_sourcez'" in infos["misspelt"].error

    rules = host.collect("virtuoso_alert_rules")
    assert [(p, r.name) for p, r in rules] == [("good", "always_fine")]
    assert infos["raises_everywhere"].status == "failed"
    assert infos["raises_everywhere"].error == "virtuoso_alert_rules raised ValueError: bad rule table"

    # a notification still reaches the healthy plugin; the failed one is no longer called
    host.notify("virtuoso_on_fill", fill="F1")
    good = sys.modules["virtuoso_dropin_good"]
    assert good.calls == ["F1"]


def test_notification_failure_marks_plugin_failed_and_others_continue(plugin_dir):
    host = PluginHost.load(plugins_dirs=[plugin_dir], entry_points=False, block=["broken_import"])
    host.notify("virtuoso_on_fill", fill="F2")
    assert host.infos["raises_everywhere"].error == "virtuoso_on_fill raised ZeroDivisionError: boom"
    assert sys.modules["virtuoso_dropin_good"].calls[-1] == "F2"


def test_allow_and_block_lists(plugin_dir):
    host = PluginHost.load(plugins_dirs=[plugin_dir], entry_points=False, block=["good"])
    assert host.infos["good"].status == "blocked"
    assert host.collect("virtuoso_alert_rules") == []
    host = PluginHost.load(plugins_dirs=[plugin_dir], entry_points=False, allow=["good"])
    assert host.infos["broken_import"].status == "not allowed"
    assert [p for p, _ in host.collect("virtuoso_alert_rules")] == ["good"]


def test_plugin_receives_its_own_config_table(plugin_dir):
    host = PluginHost.load(plugins_dirs=[plugin_dir], entry_points=False, allow=["configured"],
                           plugin_config={"configured": {"target": "pager"}, "good": {"target": "nope"}})
    assert [s.name for _, s in host.collect("virtuoso_alert_sinks")] == ["pager"]


def test_registry_override_by_config(plugin_dir, tmp_path):
    d = tmp_path / "more"
    for name in ("first", "second"):
        _write(d / f"{name}.py", f"""
            from virtuoso_tui import hookimpl

            class Sink:
                name = "pager"
                owner = "{name}"

            @hookimpl
            def virtuoso_alert_sinks(config):
                return [Sink()]
        """)
    host = PluginHost.load(plugins_dirs=[d], entry_points=False)
    assert host.registry("virtuoso_alert_sinks")["pager"][0] == "first"
    assert host.registry("virtuoso_alert_sinks", {"pager": "second"})["pager"][0] == "second"
    host.registry("virtuoso_alert_sinks", {"pager": "third"})
    assert host.problems and "'third'" in host.problems[-1]


def test_report_lists_failed_plugin_with_reason(plugin_dir):
    host = PluginHost.load(plugins_dirs=[plugin_dir], entry_points=False)
    text = host.format_report()
    line = next(li for li in text.splitlines() if li.startswith("broken_import"))
    assert "failed: import failed: RuntimeError: cannot find my API key file" in line


def test_every_hook_is_documented():
    specs = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("virtuoso_")]
    assert len(specs) == 12
    arch = (REPO / "docs" / "architecture.md").read_text()
    for name in specs:
        fn = getattr(hookspecs, name)
        assert fn.__doc__ and len(fn.__doc__.strip()) > 40, name
        assert f"`{name}`" in arch, f"{name} is not described in docs/architecture.md"


def test_core_does_not_import_textual():
    modules = ["virtuoso_tui.engine", "virtuoso_tui.runtime", "virtuoso_tui.cli", "virtuoso_tui.plugins",
               "virtuoso_tui.headless", "virtuoso_tui.api", "virtuoso_tui.monitor"]
    code = "import sys\n" + "".join(f"import {m}\n" for m in modules) + "print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_sim_start_does_not_import_ccxt():
    code = ("import sys\nfrom virtuoso_tui.plugins import PluginHost\nh = PluginHost.load()\n"
            "h.collect('virtuoso_sources')\nprint('ccxt' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_disable_and_enable_a_plugin(plugin_dir):
    host = PluginHost.load(plugins_dirs=[plugin_dir], entry_points=False)
    host.disable("good")
    assert host.infos["good"].status == "disabled"
    assert host.collect("virtuoso_alert_rules") == []
    with pytest.raises(ValueError, match="only a loaded plugin"):
        host.disable("broken_import")
    host.enable("good")
    assert [p for p, _ in host.collect("virtuoso_alert_rules")] == ["good"]
    with pytest.raises(ValueError, match="is not disabled"):
        host.enable("good")
