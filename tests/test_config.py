"""virtuoso_tui.config: search order, defaults, interpolation, masking, and every error's exact text."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import tomli
from hypothesis import given, settings
from hypothesis import strategies as st

from virtuoso_tui import config as cfg
from virtuoso_tui import settings as settings_schema
from virtuoso_tui.config import (
    MASK,
    ConfigError,
    Settings,
    check_report,
    dump_toml,
    load_config,
    locate_keys,
    parse_config,
)

REPO = Path(__file__).parents[1]
SHIPPED = REPO / "virtuoso.toml"


def err(text: str, env: dict | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(text, file="virtuoso.toml", env=env or {})
    return info.value


@pytest.fixture
def user_dir(tmp_path, monkeypatch):
    """A user config dir and data dir of our own, so the developer's real files never leak in."""
    conf, data = tmp_path / "userconf", tmp_path / "userdata"
    monkeypatch.setattr(cfg.platformdirs, "user_config_dir", lambda app: str(conf / app))
    monkeypatch.setattr(cfg.platformdirs, "user_data_dir", lambda app: str(data / app))
    return conf / "virtuoso"


# ---------------------------------------------------------------- defaults and search order

def test_shipped_file_equals_builtin_defaults(user_dir, tmp_path):
    shipped = load_config(SHIPPED, env={})
    defaults = load_config(cwd=tmp_path, env={})
    assert defaults.file is None
    assert shipped == defaults
    assert shipped.prism.weights == settings_schema.DEFAULT_FACE_WEIGHTS
    assert sum(shipped.prism.weights.values()) == pytest.approx(1.0)
    assert shipped.storage.path == str(tmp_path / "userdata" / "virtuoso" / "virtuoso.db")
    assert shipped.source_options("ccxt") == {"exchange": "bybit", "api_key": "", "secret": "",
                                               "fetch_window_ms": 2000}


def test_every_shipped_key_is_commented():
    """Each `key = value` line of the shipped file says what it is on the same line."""
    for number, line in enumerate(SHIPPED.read_text().splitlines(), 1):
        stripped = line.strip()
        if stripped and not stripped.startswith(("#", "[")) and "#" not in stripped:
            pytest.fail(f"virtuoso.toml:{number} has no comment: {line}")


def test_search_order(user_dir, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    user_dir.mkdir(parents=True)
    (user_dir / "virtuoso.toml").write_text("[general]\nseed = 3\n")
    assert load_config(cwd=work, env={}).general.seed == 3                # 3: user config dir
    (work / "virtuoso.toml").write_text("[general]\nseed = 2\n")
    assert load_config(cwd=work, env={}).general.seed == 2                # 2: ./virtuoso.toml
    explicit = tmp_path / "mine.toml"
    explicit.write_text("[general]\nseed = 1\n")
    chosen = load_config(explicit, cwd=work, env={})                      # 1: --config
    assert chosen.general.seed == 1 and chosen.file == explicit
    (work / "virtuoso.toml").unlink()
    (user_dir / "virtuoso.toml").unlink()
    assert load_config(cwd=work, env={}).general.seed == 1                # 4: defaults
    assert load_config(cwd=work, env={}).file is None


def test_missing_explicit_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.toml", env={})
    assert info.value.message == f"{tmp_path / 'nope.toml'}: the config file does not exist"


def test_error_in_cwd_file_is_named_relative(user_dir, tmp_path):
    (tmp_path / "virtuoso.toml").write_text("[general]\nseed = 'x'\n")
    with pytest.raises(ConfigError) as info:
        load_config(cwd=tmp_path, env={})
    assert str(info.value) == "virtuoso.toml:2: general.seed must be an integer, got a string 'x'"
    assert (info.value.file, info.value.key, info.value.line) == ("virtuoso.toml", "general.seed", 2)


def test_partial_file_keeps_other_defaults_and_merges_weights():
    s = parse_config("[prism.weights]\ntechnical = 0.5\nmy_face = 0.2\n", env={})
    assert s.prism.weights["technical"] == 0.5
    assert s.prism.weights["my_face"] == 0.2             # a third-party face joins
    assert s.prism.weights["orderflow"] == 0.225          # untouched faces keep their default
    assert s.paper == settings_schema.PaperSettings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.paper.leverage = 10
    with pytest.raises(TypeError):
        s.prism.weights["technical"] = 1.0


def test_free_tables_and_plugin_rules():
    s = parse_config("""
[sources.replay]
path = "data/btc.feather"
[strategy.params]
fast = 10
levels = [1, 2]
[risk.my_rule]
limit = 3
[plugins.my_plugin]
colour = "red"
[risk.max_position]
amount = { "BTC/USDT:USDT" = 1.5 }
enabled = false
""", env={})
    assert s.source_options("replay") == {"path": "data/btc.feather"}
    assert s.source_options("binance") == {"market": "usdm", "testnet": False}
    assert s.strategy.params.to_dict() == {"fast": 10, "levels": [1, 2]}
    assert s.risk.options("my_rule") == {"limit": 3}
    assert s.risk.options("max_position") == {"enabled": False, "notional": 50000.0,
                                              "amount": {"BTC/USDT:USDT": 1.5}}
    assert s.risk.options("nothing") is None
    assert s.plugins.options_for("my_plugin") == {"colour": "red"}
    assert s.plugins.options_for("other") == {}


def test_storage_path_forms():
    assert parse_config('[storage]\npath = ""\n', env={}).storage.enabled is False
    assert parse_config('[storage]\npath = ":memory:"\n', env={}).storage.path == ":memory:"
    assert parse_config('[storage]\npath = "~/x.db"\n', env={}).storage.path == str(Path.home() / "x.db")


# ---------------------------------------------------------------- errors, exact

@pytest.mark.parametrize("text, message", [
    ("[prism]\nweigths = {technical = 1}\n",
     "virtuoso.toml:2: prism.weigths is not a known key (did you mean prism.weights?)"),
    ("[general]\nsymbols = []\nzzz = 1\n",
     "virtuoso.toml:3: general.zzz is not a known key (known keys: symbols, seed)"),
    ("[risk.max_postion]\nnotional = 1\n",
     "virtuoso.toml:1: risk.max_postion is not a known key (did you mean risk.max_position?)"),
    ("[general]\nseed = \"one\"\n",
     "virtuoso.toml:2: general.seed must be an integer, got a string 'one'"),
    ("[paper]\nfunding = 1\n",
     "virtuoso.toml:2: paper.funding must be a boolean (true or false), got an integer 1"),
    ("[general]\nsymbols = \"BTC/USDT\"\n",
     "virtuoso.toml:2: general.symbols must be an array of strings, got a string 'BTC/USDT'"),
    ("[ui]\ntheme = 3\n", "virtuoso.toml:2: ui.theme must be a string, got an integer 3"),
    ("prism = 1\n", "virtuoso.toml:1: prism must be a table, got an integer 1"),
    ("[prism.weights]\ntechnical = -0.1\n",
     "virtuoso.toml:2: prism.weights.technical must be >= 0, got -0.1"),
    ("[prism.weights]\nmy_face = -1\n", "virtuoso.toml:2: prism.weights.my_face must be >= 0, got -1"),
    ("[prism.weights]\ntechnical = 0\nvolume = 0\norderflow = 0\norderbook = 0\nprice_structure = 0\n"
     "sentiment = 0\n",
     "virtuoso.toml:1: prism.weights must give at least one face a weight > 0, all are 0"),
    ("[timeframes]\nweights = {ltf = 0, mtf = 0, htf = 0}\n",
     "virtuoso.toml:2: timeframes.weights must give at least one timeframe a weight > 0, all are 0"),
    ("[timeframes]\nweights = {ltf = 0.2, mtf = -0.35, htf = 0.4}\n",
     "virtuoso.toml:2: timeframes.weights.mtf must be >= 0, got -0.35"),
    ("[prism.signal]\nlong_threshold = 30\n",
     "virtuoso.toml:2: prism.signal.long_threshold must be > prism.signal.short_threshold (35), got 30"),
    ("[prism.signal]\nshort_threshold = 70\n",
     "virtuoso.toml:2: prism.signal.short_threshold must be < prism.signal.long_threshold (65), got 70"),
    ("[prism.signal]\nhysteresis = 30\n",
     "virtuoso.toml:2: prism.signal.hysteresis must be smaller than the gap between the thresholds (30), got 30"),
    ("[prism.signal]\nhysteresis = -1\n", "virtuoso.toml:2: prism.signal.hysteresis must be >= 0, got -1"),
    ("[prism.signal]\nconfirm_s = -5\n", "virtuoso.toml:2: prism.signal.confirm_s must be >= 0, got -5"),
    ("[prism.signal]\nlong_threshold = 101\n",
     "virtuoso.toml:2: prism.signal.long_threshold must be <= 100, got 101"),
    ("[timeframes]\nmtf = \"7m\"\n",
     "virtuoso.toml:2: timeframes.mtf must be one of 1m, 3m, 5m, 15m, 30m, 1h, 2h, 4h, 8h, 1d, got '7m'"),
    ("[timeframes]\nltf = \"1h\"\n",
     "virtuoso.toml:2: timeframes.ltf (1h) must not be longer than timeframes.mtf (15m)"),
    ("[timeframes]\nhtf = \"5m\"\n",
     "virtuoso.toml:2: timeframes.htf (5m) must not be shorter than timeframes.mtf (15m)"),
    ("[timeframes]\nbase = \"3m\"\n",
     "virtuoso.toml:2: timeframes.base (3m) must divide timeframes.ltf (5m)"),
    ("[timeframes]\nbase = \"3m\"\nltf = \"5m\"\n",
     "virtuoso.toml:3: timeframes.ltf (5m) must be a whole number of timeframes.base candles (3m)"),
    ("[risk.max_drawdown]\npct = -5\n", "virtuoso.toml:2: risk.max_drawdown.pct must be >= 0, got -5"),
    ("[risk.max_position]\namount = {\"BTC/USDT\" = -1}\n",
     "virtuoso.toml:2: risk.max_position.amount.\"BTC/USDT\" must be >= 0, got -1"),
    ("[storage]\nrecord = [\"candles\", \"tweets\"]\n",
     "virtuoso.toml:2: storage.record must be one of candles, trades, books, funding, open_interest, "
     "liquidations, long_short, signals, alerts, orders, equity, got 'tweets'"),
    ("[strategy.sizing]\nmethod = \"martingale\"\n",
     "virtuoso.toml:2: strategy.sizing.method must be one of fixed, risk, atr, kelly, got 'martingale'"),
    ("[sources]\nccxt = 1\n", "virtuoso.toml:2: sources.ccxt must be a table, got an integer 1"),
    ("[source]\nspeed = nan\n", "virtuoso.toml:2: source.speed must be a finite number, got nan"),
])
def test_error_messages(text, message):
    e = err(text)
    assert e.message == message == str(e)
    assert e.file == "virtuoso.toml"
    assert e.line == int(message.split(":")[1])


def test_toml_syntax_error_is_one_sentence():
    e = err("[general]\nseed = = 2\n")
    assert e.message == "virtuoso.toml:2: the file is not valid TOML (invalid value at column 8)"
    assert e.line == 2 and e.key is None


def test_theme_is_not_checked_against_a_list():
    assert parse_config('[ui]\ntheme = "solarized-by-plugin"\n', env={}).ui.theme == "solarized-by-plugin"


# ---------------------------------------------------------------- line locator

def test_locate_keys_tables_dotted_inline_and_strings():
    text = '''# comment with key = 1
title = "a # not a comment"
[server]  # trailing
host = """
fake = 1
[not.a.table]
"""
port.number = 80
"quoted.key" = 'x'
inline = { a = 1, b = { c = [1, 2,
  3], d = "}" },
  e = 2 }
[[jobs]]
name = "x"
list = [
  { k = 1 },
]
[ deep . 'er' ]
z = 1
'''
    found = locate_keys(text)
    assert found[("title",)] == 2
    assert found[("server",)] == 3
    assert found[("server", "host")] == 4
    assert ("fake",) not in found and ("server", "fake") not in found and ("not", "a", "table") not in found
    assert found[("server", "port", "number")] == 8
    assert found[("server", "quoted.key")] == 9
    assert found[("server", "inline", "a")] == 10
    assert found[("server", "inline", "b", "d")] == 11
    assert found[("server", "inline", "e")] == 12
    assert found[("jobs", "name")] == 14
    assert found[("jobs", "list")] == 15
    assert found[("deep", "er", "z")] == 19


def test_line_numbers_in_nested_and_multiline_inline_tables():
    text = ("[general]\nseed = 1\n\n[timeframes]\nbase = \"1m\"\nweights = {\n  ltf = 0.25,\n"
            "  mtf = -1,\n  htf = 0.4,\n}\n")
    assert err(text).message == "virtuoso.toml:8: timeframes.weights.mtf must be >= 0, got -1"
    text = "[risk]\nmax_order_rate.per_minute = -3\n"
    assert err(text).message == "virtuoso.toml:2: risk.max_order_rate.per_minute must be >= 0, got -3"
    text = "[risk.max_correlation]\n# lookback = 10\nvalue = 0.5\nlookback = 1\n"
    assert err(text).message == "virtuoso.toml:4: risk.max_correlation.lookback must be >= 2, got 1"


def test_error_lines_in_the_shipped_file(tmp_path):
    """Break one key of the real file; the reported line is that key's line."""
    lines = SHIPPED.read_text().splitlines()
    target = next(i for i, line in enumerate(lines) if line.startswith("orderbook ="))
    lines[target] = "orderbook = -0.5"
    broken = tmp_path / "virtuoso.toml"
    broken.write_text("\n".join(lines))
    with pytest.raises(ConfigError) as info:
        load_config(broken, env={})
    assert info.value.line == target + 1
    assert info.value.key == "prism.weights.orderbook"


# ---------------------------------------------------------------- interpolation and secrets

def test_interpolation():
    s = parse_config('[sources.x]\nurl = "http://${HOST}:${PORT:-8080}/$${raw}"\nempty = "${NOPE:-}"\n',
                     env={"HOST": "127.0.0.1"})
    assert s.source_options("x") == {"url": "http://127.0.0.1:8080/${raw}", "empty": ""}
    assert parse_config('[ui]\ntheme = "${THEME}"\n', env={"THEME": "light"}).ui.theme == "light"


def test_unset_env_var_names_key_and_variable():
    e = err('[sources.ccxt]\n\napi_key = "${BYBIT_API_KEY}"\n')
    assert e.message == ("virtuoso.toml:3: sources.ccxt.api_key uses ${BYBIT_API_KEY}, which is not set "
                         "in the environment (write ${BYBIT_API_KEY:-} to allow it to be empty)")
    assert (e.key, e.line) == ("sources.ccxt.api_key", 3)


SECRET = "s3cr3t-VALUE-4242"


def test_secrets_never_shown():
    env = {"BYBIT_API_KEY": SECRET, "BYBIT_API_SECRET": SECRET + "x", "VENUE_TOKEN": SECRET + "y"}
    s = parse_config('[sources.ccxt]\napi_key = "${BYBIT_API_KEY}"\nsecret = "${BYBIT_API_SECRET}"\n'
                     '[plugins.notify]\nurl = "${VENUE_TOKEN}"\npassword = "hunter2"\nmonkey = "visible"\n',
                     env=env)
    assert s.source_options("ccxt")["api_key"] == SECRET        # the source gets the real value
    assert s.plugins.options_for("notify")["url"] == SECRET + "y"
    for text in (repr(s), str(s), check_report(s), s.to_toml_masked()):
        assert SECRET not in text and "hunter2" not in text
        assert "visible" in text
    assert check_report(s).count(MASK) >= 4


def test_secret_not_in_error_text():
    e = err('[paper]\napi_key = "${K}"\n', env={"K": SECRET})
    assert SECRET not in e.message and e.message.startswith("virtuoso.toml:2: paper.api_key is not a known key")
    e = err('[ui]\nfps = "${FPS_TOKEN}"\n', env={"FPS_TOKEN": SECRET})
    assert e.message == f"virtuoso.toml:2: ui.fps must be an integer, got a string {MASK}"


@pytest.mark.parametrize("name, secret", [
    ("api_key", True), ("apiKey", True), ("secret", True), ("PASSWORD", True), ("passphrase", True),
    ("access_token", True), ("private_key", True), ("keys", False), ("monkey", False), ("market", False),
])
def test_secret_names(name, secret):
    assert cfg.is_secret_name(name) is secret


# ---------------------------------------------------------------- check report

def test_check_report_is_effective_config_and_round_trips(user_dir, tmp_path):
    source = tmp_path / "c.toml"
    source.write_text('[general]\nseed = 9\n[prism.faces]\norderflow = "my-plugin"\n'
                      '[sources.x]\npattern = "${literal}"\n', encoding="utf-8")
    s = load_config(source, env={"literal": "$${kept}"})
    report = check_report(s)
    assert report.startswith(f"# configuration OK, read from {source}\n")
    assert "seed = 9" in report and 'orderflow = "my-plugin"' in report
    assert parse_config(dump_toml(s.to_dict()), env={}) == s          # effective config, exactly
    assert isinstance(s, Settings)


# ---------------------------------------------------------------- properties

_names = st.one_of(st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True), st.sampled_from(["a.b", "x y", "é"]))
_scalars = st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=False, allow_infinity=False),
                     st.booleans(), st.text(alphabet="ab#=[]{}\"'\\$ \n", max_size=8))
_tables = st.recursive(st.dictionaries(_names, _scalars, max_size=4),
                       lambda inner: st.dictionaries(_names, st.one_of(_scalars, inner,
                                                                       st.lists(_scalars, max_size=3)),
                                                     max_size=4), max_leaves=12)


def _leaves(d: dict, path: tuple = ()):
    for k, v in d.items():
        if isinstance(v, dict):
            yield from _leaves(v, path + (k,))
        else:
            yield path + (k,), v


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(_names, _tables, min_size=1, max_size=3))
def test_dump_reads_back_and_locator_finds_every_key(data):
    text = dump_toml(data)
    assert cfg._Builder("", "f", {}).interpolate(tomli.loads(text), ()) == data
    found = locate_keys(text)
    lines = text.splitlines()
    for path, _ in _leaves(data):
        assert lines[found[path] - 1].startswith(cfg.dotted(path[-1:]) + " = ")


def test_quick_size_must_be_an_order_size(tmp_path):
    path = tmp_path / "virtuoso.toml"
    path.write_text('[ui]\nquick_size = "lots"\n')
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.key == "ui.quick_size" and err.value.line == 2
    assert str(err.value).startswith(f"{path}:2: ui.quick_size is not an order size (")
    path.write_text('[ui]\nquick_size = "0.5%"\n')
    assert load_config(path).ui.quick_size == "0.5%"
