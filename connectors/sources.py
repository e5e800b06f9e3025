"""How every channel reads its settings: credentials.yml values, each overridden by its
environment variable (production secrets live in the environment only)."""
from __future__ import annotations

import os
from typing import Any, Dict, Mapping, Optional


def layered(credentials: Optional[Mapping[str, Any]], environ: Optional[Mapping[str, str]],
            env_names: Mapping[str, str]) -> Dict[str, Any]:
    """The known keys of ``credentials`` (empty values skipped), then every variable of
    ``env_names`` (setting key → variable name) that is set and not empty, over them."""
    environ = os.environ if environ is None else environ
    values: Dict[str, Any] = {key: value for key, value in (credentials or {}).items()
                              if key in env_names and value not in (None, "")}
    values.update({key: environ[name] for key, name in env_names.items()
                   if environ.get(name, "") != ""})
    return values


_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def refuse_demo_secrets(channel: str, api_base_url: str,
                        secrets: Mapping[str, "tuple[str, str]"]) -> None:
    """A channel pointed at anything but this machine (the real WeChat or Telegram API) must
    not run on the contract's public demo secrets: anyone who read the contract could then
    sign or forge its callbacks. ``secrets`` maps each environment variable to (value in use,
    demo value); the error names every variable still at its demo value."""
    from urllib.parse import urlsplit

    host = (urlsplit(api_base_url.replace("{token}", "")).hostname or "").lower()
    if host in _LOCAL_HOSTS:
        return
    still_demo = sorted(name for name, (value, demo) in secrets.items() if value == demo)
    if still_demo:
        raise ValueError(
            f"{channel} points at {host} but {', '.join(still_demo)} "
            f"{'is' if len(still_demo) == 1 else 'are'} the public demo value: set "
            f"{'it' if len(still_demo) == 1 else 'them'} in the environment")
