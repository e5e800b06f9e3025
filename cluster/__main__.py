"""``python -m cluster up|status|network|kill NAME|start NAME [--env K=V]|promote [--model M]|down [--wipe]``
(bin/cluster)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cluster import control
from cluster.settings import ClusterSettings
from training.deploy import DeployError


def _overrides(items) -> dict:
    found = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"bin/cluster: --env wants KEY=VALUE, not {item!r}")
        found[key.strip()] = value
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="bin/cluster", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="start everything; return when all is healthy")
    commands.add_parser("status", help="JSON: one entry per process")
    commands.add_parser("network", help="make the namespaces and bridge up would run in, now; "
                                        "JSON: the layout and the host's bridge address")
    commands.add_parser("kill", help="SIGKILL one process at once").add_argument("name")
    begin = commands.add_parser("start", help="start one process; return when it is healthy")
    begin.add_argument("name")
    begin.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                       help="a setting for this start only (a drill, DEBUG logs on one "
                            "replica); status lists it; the next plain start drops it")
    promote = commands.add_parser(
        "promote", help="restart the Rasa replicas on a model one at a time, each out of the "
                        "ingress's rotation while it loads; then move models/current.tar.gz")
    promote.add_argument("--model", default="models/tuibao.tar.gz",
                         help="the gated model (default: the newest trained, models/tuibao.tar.gz)")
    promote.add_argument("--skip-gate", action="store_true",
                         help="promote a model whose gate failed or never ran, on purpose")
    stop = commands.add_parser("down", help="stop everything (data stays)")
    stop.add_argument("--wipe", action="store_true", help="also drop the cluster's data")
    args = parser.parse_args(argv)
    settings = ClusterSettings.from_env()
    try:
        if args.command == "up":
            print(json.dumps(control.up(settings)))
        elif args.command == "status":
            print(json.dumps(control.status(settings)))
        elif args.command == "network":
            print(json.dumps(control.make_network(settings)))
        elif args.command == "kill":
            control.kill(settings, args.name)
        elif args.command == "start":
            print(json.dumps(control.start(settings, args.name, _overrides(args.env))))
        elif args.command == "promote":
            for line in control.promote(settings, Path(args.model), skip_gate=args.skip_gate):
                print(line)
        elif args.command == "down":
            control.down(settings, wipe=args.wipe)
    except (control.ClusterError, DeployError) as error:
        print(f"bin/cluster: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
