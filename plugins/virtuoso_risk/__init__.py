"""Built-in plugin virtuoso_risk: the pre-trade risk rules (rules.py), registered through the
`virtuoso_risk_rules` hook like any third party's."""

from __future__ import annotations

from virtuoso_tui import hookimpl


@hookimpl
def virtuoso_risk_rules() -> list[type]:
    from virtuoso_risk.rules import RULES

    return list(RULES)
