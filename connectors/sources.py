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
