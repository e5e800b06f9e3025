"""``python -m sandbox_insurer`` runs the service; ``--write-openapi`` refreshes openapi.json."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

OPENAPI_PATH = Path(__file__).resolve().parent / "openapi.json"


def openapi_text(app) -> str:
    return json.dumps(app.openapi(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def log_config() -> dict:
    """uvicorn's logging, with personal data masked on every handler."""
    from uvicorn.config import LOGGING_CONFIG

    config = json.loads(json.dumps(LOGGING_CONFIG))
    config["filters"] = {"pii": {"()": "redaction.logs.RedactingFilter"}}
    for handler in config["handlers"].values():
        handler["filters"] = ["pii"]
    config["loggers"]["sandbox_insurer"] = {"handlers": ["default"], "level": "INFO",
                                            "propagate": False}
    from observability.logs import uvicorn_log_config

    return uvicorn_log_config(config)  # JSON lines when TUIBAO_LOG_FORMAT=json


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox_insurer", description=__doc__)
    parser.add_argument("--write-openapi", action="store_true",
                        help=f"write the OpenAPI document to {OPENAPI_PATH} and exit")
    args = parser.parse_args(argv)

    from .app import create_app
    from .settings import Settings, SettingsError

    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.write_openapi:
        OPENAPI_PATH.write_text(openapi_text(create_app(settings)), encoding="utf-8")
        print(f"wrote {OPENAPI_PATH}")
        return 0

    import uvicorn

    uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                log_config=log_config(), timeout_graceful_shutdown=3)
    return 0


if __name__ == "__main__":
    sys.exit(main())
