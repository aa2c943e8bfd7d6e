"""Built-in plugin virtuoso_paper: the paper executor (matching.py) and the execution algorithms
(virtuoso_tui.trading.algos), registered through the `virtuoso_executors` hook like any third party."""

from __future__ import annotations

from virtuoso_tui import hookimpl


@hookimpl
def virtuoso_executors() -> list[type]:
    from virtuoso_paper.matching import PaperExecutor
    from virtuoso_tui.trading.algos import ALGOS

    return [PaperExecutor, *ALGOS]
