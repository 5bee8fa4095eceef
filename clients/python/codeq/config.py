"""Where the ``codeq`` command finds the platform and its token.

In order: ``--url`` / ``--token``; a profile chosen by name (``--profile`` or ``CODEQ_PROFILE``); the
``CODEQ_URL`` / ``CODEQ_TOKEN`` environment variables; the ``default`` profile. Profiles live in the profile
file (``CODEQ_CONFIG``, else ``~/.config/codeq/config.toml``)::

    [default]
    url = "http://127.0.0.1:8000"
    token = "eyJ..."

    [prod-admin]
    url = "https://queue.example.com"
    token = "eyJ..."
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path


class ConfigError(Exception):
    """The profile file cannot be read, or names no URL."""


@dataclass(frozen=True)
class Settings:
    url: str
    token: str | None


def config_path() -> Path:
    return Path(os.environ.get("CODEQ_CONFIG") or Path.home() / ".config" / "codeq" / "config.toml")


def _profile(name: str | None) -> dict[str, str]:
    path = config_path()
    explicit = name or os.environ.get("CODEQ_PROFILE")
    if not path.exists():
        if explicit:
            raise ConfigError(f"profile {explicit!r} asked for, but {path} does not exist")
        return {}
    try:
        profiles = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    chosen = explicit or "default"
    if chosen not in profiles:
        if explicit:
            raise ConfigError(f"no profile {chosen!r} in {path}")
        return {}
    section = profiles[chosen]
    if not isinstance(section, dict):
        raise ConfigError(f"profile {chosen!r} in {path} is not a table")
    return {k: str(v) for k, v in section.items()}


def resolve(*, url: str | None = None, token: str | None = None, profile: str | None = None) -> Settings:
    """The URL and token to use; raises ``ConfigError`` when no URL is known."""
    stored = _profile(profile)
    env = {"url": os.environ.get("CODEQ_URL"), "token": os.environ.get("CODEQ_TOKEN")}
    named = profile or os.environ.get("CODEQ_PROFILE")
    first, second = (stored, env) if named else (env, stored)
    chosen_url = url or first.get("url") or second.get("url")
    if not chosen_url:
        raise ConfigError(f"no platform URL: set CODEQ_URL, pass --url, or add a profile to {config_path()}")
    return Settings(chosen_url, token or first.get("token") or second.get("token"))
