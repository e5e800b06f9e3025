"""Console accounts, from the command line (production has no default account):

    python -m console.admin create-user NAME --role agent|supervisor|trainer [--password-env VAR]

The password is read from the environment variable named by ``--password-env`` or asked for
interactively, never taken as an argument (it would land in the shell history and ``ps``).
"""
from __future__ import annotations

import argparse
import getpass
import os
import sys

from console.auth import create_user
from handoff.settings import HandoffSettings
from handoff.store import HandoffStore, Role


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m console.admin")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-user", help="create or update an account")
    create.add_argument("username")
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    create.add_argument("--display-name")
    create.add_argument("--password-env", help="environment variable holding the password")
    args = parser.parse_args(argv)

    if args.password_env:
        password = os.environ.get(args.password_env)
        if not password:
            print(f"{args.password_env} is empty", file=sys.stderr)
            return 2
    else:
        password = getpass.getpass("password: ")
    store = HandoffStore(HandoffSettings.from_env().db_url)
    try:
        create_user(store, args.username, password, args.role, args.display_name)
    except ValueError as error:
        print(str(error), file=sys.stderr)
        return 2
    print(f"account {args.username} ({args.role}) ready")
    return 0


if __name__ == "__main__":
    sys.exit(main())
