"""A real terminal: the `virtuoso` console script runs in tmux on the simulated market; keys are sent
with send-keys and the screen is read back with capture-pane. Proves the installed entry point starts
the console, draws live data, reacts to keys, trades from the keyboard, and quits on ctrl+c with status
0 (engine stopped cleanly, no traceback on the screen, the database holding the order and position)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = [pytest.mark.tmux, pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")]

REPO = Path(__file__).resolve().parents[1]
VIRTUOSO = Path(sys.executable).with_name("virtuoso")


class Tmux:
    def __init__(self) -> None:
        self.socket = f"vt-ui-{uuid.uuid4().hex[:8]}"  # a private server: never touches anyone's sessions
        self.session = "console"

    def run(self, *args: str) -> str:
        out = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=20)
        return out.stdout

    def start(self, command: str, width: int = 130, height: int = 38) -> None:
        self.run("new-session", "-d", "-s", self.session, "-x", str(width), "-y", str(height), command)

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", self.session)

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", self.session, *keys)

    def wait_for(self, predicate, timeout: float = 25.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if predicate(screen):
                return screen
            time.sleep(0.2)
        raise AssertionError(f"timed out; the screen was:\n{screen}")

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=20)


@pytest.fixture
def tmux():
    t = Tmux()
    yield t
    t.kill()


def test_virtuoso_console_in_a_real_terminal(tmux, tmp_path):
    assert VIRTUOSO.exists(), f"the console script is missing at {VIRTUOSO}"
    status = tmp_path / "status"
    db = tmp_path / "virtuoso.db"
    # COLUMNS/LINES leak in from the test process (set by the snapshot plugin) and would override the
    # pty's real size in shutil.get_terminal_size
    env = f"cd {REPO} && unset COLUMNS LINES && TERM=xterm-256color"
    tmux.start(f"{env} {VIRTUOSO} --source sim --seed 3 --speed 0 --db {db} ; echo $? > {status}; sleep 30")
    screen = tmux.wait_for(lambda s: "VIRTUOSO" in s and "Watchlist" in s and "spread" in s)
    assert " SIM " in screen and "Order book" in screen and "Prism" in screen
    first = next(line for line in screen.splitlines() if "▶" in line and "/" in line)
    symbol = first.split("▶")[1].split()[0]

    tmux.keys("j")
    screen = tmux.wait_for(lambda s: f"▶{symbol}" not in s)
    assert "▶" in screen

    tmux.keys("1")
    screen = tmux.wait_for(lambda s: "score contribution" in s)
    assert "COMPONENT" in screen and "FINAL SCORE" in screen

    tmux.keys(":")
    tmux.wait_for(lambda s: "f1 Help" in s and "t Timeframe" not in s)  # the command bar has focus
    tmux.keys("-l", "frobnicate 3")
    tmux.keys("Enter")
    tmux.wait_for(lambda s: "unknown command 'frobnicate'" in s)

    tmux.keys("Escape")
    tmux.wait_for(lambda s: "t Timeframe" in s)  # focus is back on the screen: letters are keys again
    tmux.keys("b")  # quick buy: the confirmation dialog, then y
    tmux.wait_for(lambda s: "Confirm order" in s)
    tmux.keys("y")
    tmux.wait_for(lambda s: "filled" in s)

    tmux.keys("C-c")  # ctrl+c quits like q: the engine is stopped and awaited
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not status.exists():
        time.sleep(0.2)
    assert status.exists(), f"the console did not exit; the screen was:\n{tmux.screen()}"
    assert status.read_text().strip() == "0"
    assert "Traceback" not in tmux.screen()
    # the database is consistent after the quit: the keyboard order and its position were stored
    from virtuoso_tui.storage import Storage

    with Storage(str(db)) as storage:
        orders = storage.orders()
        assert [(o.side, o.status.value, o.origin) for o in orders] == [("buy", "filled", "keyboard")]
        position = storage.positions()[orders[0].symbol]
        assert position.amount == pytest.approx(orders[0].filled)


def test_a_plugin_panel_that_raises_is_a_notification_not_a_crash(tmux, tmp_path):
    """Textual's test harness waits forever on a widget whose mount failed, so this runs for real."""
    sys.path.insert(0, str(Path(__file__).parent))
    from test_ui_fixtures import MOUNT_FAILS_PLUGIN

    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "mount_fails.py").write_text(MOUNT_FAILS_PLUGIN)
    status = tmp_path / "status"
    tmux.start(f"cd {REPO} && unset COLUMNS LINES && {VIRTUOSO} --source sim --seed 3 --speed 1 --db '' "
               f"--plugins-dir {plugins}; echo $? > {status}; sleep 30")
    screen = tmux.wait_for(lambda s: "RuntimeError: mount failed in plugin" in s)
    assert "Watchlist" in screen and "Traceback" not in screen
    first = next(line for line in screen.splitlines() if "▶" in line and "/" in line).split("▶")[1].split()[0]
    tmux.keys("j")  # still alive: keys work
    tmux.wait_for(lambda s: f"▶{first}" not in s)
    tmux.keys("q")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not status.exists():
        time.sleep(0.2)
    assert status.exists() and status.read_text().strip() == "0"
