"""Where the cluster's parts live on the network: each Rasa replica and action server in a
network namespace of its own, or everything on the host's loopback.

Namespace layout (``up`` as root where ``ip netns`` works, and nginx has its stream module):
each replica ``rasa-N`` / ``actions-N`` runs in namespace ``<prefix>-rasa-N`` …, its ``eth0``
one end of a veth pair whose other end is a port of the bridge ``<prefix>-br`` on the host.
The bridge holds the first address of ``settings.netns_subnet`` (10.77.0.1 by default);
``rasa-N`` has the subnet's 10+N-th address, ``actions-N`` its 50+N-th. Nothing routes out of
the subnet: a replica reaches only the host's bridge address, where the cluster's nginx
listens for it (topology.Reach), and the host reaches the replicas on their own addresses.

Loopback layout (not root, no ``ip netns``, no stream module, or ``TUIBAO_CLUSTER_NETNS=off``):
everything on 127.0.0.1, as the cluster always ran.

The layout chosen at ``up`` is kept in ``<state>/layout.json`` so that ``status``, ``kill``
and ``start`` address the parts where they run; ``down`` removes every namespace, veth and the
bridge the cluster made.
"""
from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import signal
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import List, Optional, Set

from cluster.settings import ClusterSettings

STREAM_MODULE = Path("/usr/lib/nginx/modules/ngx_stream_module.so")
LOOPBACK_ADDRESS = "127.0.0.1"
RASA_OFFSET = 10     # rasa-N: the subnet's (10+N)-th address
ACTIONS_OFFSET = 50  # actions-N: its (50+N)-th


class NetworkError(RuntimeError):
    """A namespace, veth or the bridge could not be made; the message says which and why."""


def namespaced(name: str) -> bool:
    """The parts that get a namespace of their own: Rasa replicas and action servers."""
    return name.startswith(("rasa-", "actions-"))


@dataclass(frozen=True)
class Home:
    """Where one namespaced part lives."""

    part: str
    netns: str
    address: str
    veth: str  # the host's end of its veth pair (the namespace's end is eth0)


@dataclass(frozen=True)
class Layout:
    """``kind`` "netns" or "loopback"; ``reason``: why loopback, when it is."""

    kind: str = "loopback"
    reason: str = ""
    subnet: str = ""
    prefix: str = ""

    @property
    def netns(self) -> bool:
        return self.kind == "netns"

    @property
    def bridge(self) -> str:
        return f"{self.prefix}-br"

    @property
    def bridge_address(self) -> str:
        """The host's address on the bridge: what a replica dials for anything off its
        namespace (127.0.0.1 in the loopback layout)."""
        if not self.netns:
            return LOOPBACK_ADDRESS
        return str(ipaddress.ip_network(self.subnet)[1])

    @property
    def prefixlen(self) -> int:
        return ipaddress.ip_network(self.subnet).prefixlen

    def homes(self, settings: ClusterSettings) -> List[Home]:
        """Every namespaced part's home (none in the loopback layout)."""
        if not self.netns:
            return []
        network = ipaddress.ip_network(self.subnet)
        found = []
        for kind, offset, count in (("rasa", RASA_OFFSET, len(settings.rasa_ports)),
                                    ("actions", ACTIONS_OFFSET, len(settings.action_ports))):
            for number in range(1, count + 1):
                index = offset + number
                if number > 39 or index >= network.num_addresses - 1:
                    raise NetworkError(f"subnet {self.subnet} has no room for {kind}-{number}")
                found.append(Home(f"{kind}-{number}", f"{self.prefix}-{kind}-{number}",
                                  str(network[index]), f"{self.prefix}-{kind[0]}{number}"))
        return found

    def home_of(self, settings: ClusterSettings, name: str) -> Optional[Home]:
        return next((home for home in self.homes(settings) if home.part == name), None)

    def address_of(self, settings: ClusterSettings, name: str) -> str:
        home = self.home_of(settings, name)
        return home.address if home else LOOPBACK_ADDRESS


LOOPBACK = Layout()


def planned(settings: ClusterSettings) -> Layout:
    return Layout("netns", subnet=str(ipaddress.ip_network(settings.netns_subnet)),
                  prefix=settings.netns_prefix)


# ---------------------------------------------------------------- the layout of this cluster
def _layout_file(settings: ClusterSettings) -> Path:
    return settings.state_dir / "layout.json"


def current(settings: ClusterSettings) -> Layout:
    """The layout the running cluster was started in (loopback when none was recorded)."""
    try:
        return Layout(**json.loads(_layout_file(settings).read_text()))
    except (FileNotFoundError, ValueError, TypeError):
        return LOOPBACK


def save(settings: ClusterSettings, layout: Layout) -> None:
    _layout_file(settings).parent.mkdir(parents=True, exist_ok=True)
    _layout_file(settings).write_text(json.dumps(asdict(layout)) + "\n")


def forget(settings: ClusterSettings) -> None:
    _layout_file(settings).unlink(missing_ok=True)


def describe(settings: ClusterSettings, layout: Layout) -> str:
    """The one line ``up`` says about where the parts live."""
    if not layout.netns:
        return f"network: every part on 127.0.0.1 (no namespaces: {layout.reason})"
    homes = ", ".join(f"{home.part} {home.netns} {home.address}" for home in layout.homes(settings))
    return (f"network: replicas in namespaces of their own on bridge {layout.bridge} "
            f"{layout.bridge_address}/{layout.prefixlen}: {homes} (ip netns list)")


def unavailable(settings: ClusterSettings) -> Optional[str]:
    """Why the namespace layout cannot be used here, or None when it can."""
    choice = settings.netns.lower()
    if choice in ("off", "0", "no", "false"):
        return "TUIBAO_CLUSTER_NETNS=off"
    if os.geteuid() != 0:
        return "not root"
    if shutil.which("ip") is None:
        return "no ip command (Debian's iproute2)"
    if not STREAM_MODULE.exists():
        return f"nginx has no stream module ({STREAM_MODULE}: Debian's libnginx-mod-stream)"
    probe = f"{settings.netns_prefix}-probe"
    try:
        _ip("netns", "add", probe)
    except NetworkError as error:
        return f"ip netns does not work here: {error}"
    with contextlib.suppress(NetworkError):
        _ip("netns", "del", probe)
    return None


# ---------------------------------------------------------------- making and removing
def _ip(*args: str) -> str:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise NetworkError(f"ip {' '.join(args)}: {done.stderr.strip() or done.returncode}")
    return done.stdout


def _link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def namespaces(prefix: str) -> List[str]:
    """The namespaces named ``<prefix>-…`` on this machine."""
    if shutil.which("ip") is None:
        return []
    try:
        listed = _ip("netns", "list")
    except NetworkError:
        return []
    names = [line.split()[0] for line in listed.splitlines() if line.strip()]
    return [name for name in names if name.startswith(f"{prefix}-")]


def members(netns: str) -> List[int]:
    """The pids of every process in ``netns`` (none once its part and all its children died)."""
    try:
        return [int(pid) for pid in _ip("netns", "pids", netns).split()]
    except (NetworkError, ValueError):
        return []


def _remove_namespace(netns: str, veth: Optional[str]) -> None:
    """A namespace of an earlier run: whatever still runs in it is the cluster's own leftover
    (a worker that outlived its replica's crash) and is killed, then the namespace and its
    veth go."""
    for pid in members(netns):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(NetworkError):
        _ip("netns", "del", netns)
    if veth and _link_exists(veth):
        with contextlib.suppress(NetworkError):
            _ip("link", "del", veth)


def build(settings: ClusterSettings, layout: Layout, running: Set[str]) -> None:
    """The bridge and every namespace of ``layout``. A namespace whose part runs is kept as it
    is; any other is made afresh (a stale one of a crashed run is removed first), and
    namespaces with the prefix that the layout no longer has are removed."""
    bridge = layout.bridge
    if not _link_exists(bridge):
        _ip("link", "add", bridge, "type", "bridge")
    _ip("addr", "replace", f"{layout.bridge_address}/{layout.prefixlen}", "dev", bridge)
    _ip("link", "set", bridge, "up")
    homes = layout.homes(settings)
    wanted = {home.netns for home in homes}
    for stale in namespaces(layout.prefix):
        if stale not in wanted:
            _remove_namespace(stale, None)
    existing = set(namespaces(layout.prefix))
    for home in homes:
        if home.part in running and home.netns in existing:
            continue
        _remove_namespace(home.netns, home.veth)
        _ip("netns", "add", home.netns)
        _ip("link", "add", home.veth, "type", "veth", "peer", "name", "eth0", "netns", home.netns)
        _ip("link", "set", home.veth, "master", bridge, "up")
        _ip("-n", home.netns, "addr", "add", f"{home.address}/{layout.prefixlen}", "dev", "eth0")
        _ip("-n", home.netns, "link", "set", "eth0", "up")
        _ip("-n", home.netns, "link", "set", "lo", "up")


def tear_down(settings: ClusterSettings, layout: Optional[Layout] = None) -> None:
    """Remove every namespace ``<prefix>-…``, the veths and the bridge (a no-op where there
    are none, or where this is not root)."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return
    layout = layout if layout is not None and layout.netns else planned(settings)
    veths = {home.netns: home.veth for home in layout.homes(settings)}
    for netns in namespaces(layout.prefix):
        _remove_namespace(netns, veths.get(netns))
    for veth in veths.values():
        if _link_exists(veth):
            with contextlib.suppress(NetworkError):
                _ip("link", "del", veth)
    if _link_exists(layout.bridge):
        with contextlib.suppress(NetworkError):
            _ip("link", "del", layout.bridge)


def netns_exec(netns: str, argv: List[str]) -> List[str]:
    """``argv`` run in ``netns``: ``ip netns exec`` switches namespace and execs the command
    itself (no fork), so the pid the cluster records is the part's own."""
    return ["ip", "netns", "exec", netns, *argv]
