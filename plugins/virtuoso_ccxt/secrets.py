"""API credentials that never leak: read from the environment, redacted from every message.

`Credentials` holds the key, secret and password for a ccxt exchange; its repr shows only whether
each is set. `redact` replaces any credential (and its URL-encoded form) inside a text with `***`;
the ccxt source passes every error message and log line it writes through it, and installs
`RedactingFilter` on the ccxt and virtuoso_ccxt loggers so third-party log lines are cleaned too.
Neighbours: source.py.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from urllib.parse import quote

FIELDS = ("apiKey", "secret", "password")


@dataclass(frozen=True)
class Credentials:
    apiKey: str = ""
    secret: str = ""
    password: str = ""

    @classmethod
    def from_options(cls, options: dict) -> Credentials:
        """Take `api_key`/`secret`/`password` (already interpolated by the config) or the names of
        environment variables in `api_key_env`/`secret_env`/`password_env`; pops them from options so
        they are not kept in a dict someone may print."""
        values = {}
        for field_name, opt in zip(FIELDS, ("api_key", "secret", "password"), strict=True):
            value = options.pop(opt, "") or ""
            env = options.pop(f"{opt}_env", None)
            if not value and env:
                value = os.environ.get(str(env), "")
            values[field_name] = str(value)
        return cls(**values)

    def __repr__(self) -> str:
        shown = ", ".join(f"{f}={'set' if getattr(self, f) else 'unset'}" for f in FIELDS)
        return f"Credentials({shown})"

    __str__ = __repr__

    @property
    def present(self) -> bool:
        return bool(self.apiKey or self.secret)

    def secrets(self) -> list[str]:
        return [v for v in (self.apiKey, self.secret, self.password) if v]

    def ccxt_config(self) -> dict:
        return {f: getattr(self, f) for f in FIELDS if getattr(self, f)}


def redact(text: str, secrets: list[str]) -> str:
    for s in secrets:
        if len(s) >= 4:
            text = text.replace(s, "***").replace(quote(s, safe=""), "***")
    return text


class RedactingFilter(logging.Filter):
    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            clean = redact(message, self.secrets)
            if clean != message:
                record.msg, record.args = clean, None
        return True
