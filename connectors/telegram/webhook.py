"""Register the bot's webhook with Telegram, or remove it.

    python -m connectors.telegram.webhook set [--url URL] [--drop-pending-updates]
    python -m connectors.telegram.webhook delete [--drop-pending-updates]
    python -m connectors.telegram.webhook info

``set`` registers ``TELEGRAM_WEBHOOK_URL`` (or ``--url``) with the secret token
(``TELEGRAM_SECRET_TOKEN``) and only the update types the channel handles; the Bot API is
``TELEGRAM_API_BASE_URL`` (the simulator in the demo). Neither token is ever printed.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from typing import List, Optional

from telegram.error import TelegramError

from connectors.telegram.client import TelegramApi
from connectors.telegram.dedupe import MemoryUpdateStore
from connectors.telegram.settings import TelegramSettings

MAX_CONNECTIONS = 40  # Telegram's default; per-chat order is kept by the channel


async def run(command: str, settings: TelegramSettings, url: Optional[str],
              drop_pending: bool) -> str:
    api = TelegramApi(settings, MemoryUpdateStore())
    try:
        bot = await api.bot()
        if command == "set":
            target = url or settings.webhook_url
            await bot.set_webhook(target, secret_token=settings.secret_token,
                                  allowed_updates=list(settings.allowed_updates),
                                  max_connections=MAX_CONNECTIONS,
                                  drop_pending_updates=drop_pending)
            return (f"webhook set: {target} (updates: {', '.join(settings.allowed_updates)}; "
                    "secret token sent)")
        if command == "delete":
            await bot.delete_webhook(drop_pending_updates=drop_pending)
            return "webhook removed"
        info = await bot.get_webhook_info()
        return (f"webhook: {info.url or '(none)'}; pending updates: {info.pending_update_count}; "
                f"allowed updates: {', '.join(info.allowed_updates or ()) or '(all)'}"
                + (f"; last error: {info.last_error_message}" if info.last_error_message else ""))
    finally:
        await api.close()


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m connectors.telegram.webhook",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("set", "delete", "info"))
    parser.add_argument("--url", help="public webhook address (default: TELEGRAM_WEBHOOK_URL)")
    parser.add_argument("--drop-pending-updates", action="store_true",
                        help="discard updates Telegram is still holding")
    args = parser.parse_args(argv)
    if args.url is not None and args.command != "set":
        parser.error("--url only goes with set")
    try:
        settings = TelegramSettings.from_sources()
        print(asyncio.run(run(args.command, settings, args.url, args.drop_pending_updates)))
    except (TelegramError, ValueError) as error:
        print(f"failed: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
