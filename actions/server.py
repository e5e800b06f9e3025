"""The action server as Tuibao runs it: rasa_sdk's Sanic app, callable only by our Rasa.

    python -m actions.server [--port 5055]

The custom actions speak to insurers on a verified user's behalf, so whoever can call
``/webhook`` with a made-up tracker could drive them. Rasa's ``action_endpoint`` sends
``Authorization: Bearer <TUIBAO_ACTION_SECRET>`` (endpoints.yml ``headers``); every request
except ``/health`` without that secret is answered 401 and never reaches an action. The compare
is constant-time. rasa_sdk's own error handler echoes the request body (a whole tracker, with
personal data) into its 500 answer and the log: ours answers without it.
"""
from __future__ import annotations

import argparse
import hmac
import logging
import os

from rasa_sdk import utils as sdk_utils
from rasa_sdk.constants import DEFAULT_SERVER_PORT
from rasa_sdk.endpoint import create_app
from sanic import Sanic, response
from sanic.request import Request

from actions.config import action_secret
from insurers.registry import insurer_id_of
from observability import funnel, logs, metrics, web

logger = logging.getLogger(__name__)

ACTIONS_PACKAGE = "actions"
# The process manager's and load balancer's probe; /metrics has its own guard (a token).
OPEN_PATHS = frozenset({"/health", web.METRICS_PATH})


def _presented_secret(request: Request) -> str:
    scheme, _, value = (request.headers.get("Authorization") or "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def is_authorised(presented: str, secret: str) -> bool:
    """Constant-time: the answer's timing says nothing about how much of a guess was right."""
    return bool(secret) and hmac.compare_digest(presented.encode("utf-8"),
                                                secret.encode("utf-8"))


def create_action_app(secret: str, actions_package: str = ACTIONS_PACKAGE) -> Sanic:
    """rasa_sdk's app with its actions registered, refusing callers without ``secret``."""
    if not secret:
        raise ValueError("TUIBAO_ACTION_SECRET must not be empty")
    # No browser ever calls the action server: no CORS origins.
    app = create_app(actions_package, cors_origins=[])

    @app.on_request
    async def require_secret(request: Request):
        if request.path in OPEN_PATHS:
            return None
        if not is_authorised(_presented_secret(request), secret):
            logger.warning("action server: %s %s refused (no valid secret) from %s",
                           request.method, request.path, request.ip)
            return response.json({"error": "unauthorised"}, status=401)
        return None

    @app.exception(Exception)
    async def failed(request: Request, exception: Exception):
        logger.error("action server: %s %s failed: %s", request.method, request.path,
                     type(exception).__name__, exc_info=exception)
        return response.json({"error": "internal error"}, status=500)

    web.attach_sanic(app, funnel.action_server_hook(insurer_id_of))  # /metrics, funnel
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="Tuibao's action server (needs the secret)")
    parser.add_argument("-p", "--port", type=int,
                        default=int(os.environ.get("ACTION_SERVER_PORT", DEFAULT_SERVER_PORT)))
    parser.add_argument("--host", default=os.environ.get("SANIC_HOST", "127.0.0.1"))
    parser.add_argument("--actions", default=ACTIONS_PACKAGE)
    parser.add_argument("--debug", action="store_true", help="log at DEBUG level")
    args = parser.parse_args()
    metrics.prepare_multiprocess("actions", args.port)  # Sanic workers share the figures
    sdk_utils.configure_colored_logging("DEBUG" if args.debug else "INFO")
    sdk_utils.update_sanic_log_level()
    logs.install()
    app = create_action_app(action_secret(), args.actions)
    logger.info("Action server on http://%s:%s (callers need TUIBAO_ACTION_SECRET)",
                args.host, args.port)
    app.run(args.host, args.port, workers=sdk_utils.number_of_sanic_workers(),
            access_log=False)


if __name__ == "__main__":
    main()
