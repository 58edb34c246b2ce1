"""A local high-availability PostgreSQL cluster on loopback: etcd and Patroni.

This is the production topology keyturn is built for, on one machine: an etcd
member holds the leader key, two (or three) Patroni-managed PostgreSQL 15 nodes
replicate synchronously, and keyturn instances reach the primary through a
multi-host URL with `target_session_attrs=read-write`. `scripts/cluster` starts
and stops it from a shell; the HA tests start one of their own.

Everything listens on 127.0.0.1 and is stopped by PID. PostgreSQL refuses to run
as root, so when started by root the nodes run as the `postgres` user.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from testkit.services import free_port

PG_BIN = Path("/usr/lib/postgresql/15/bin")
SCOPE = "keyturn"
DATABASE = "keyturn"
# Patroni's timing: the leader key lives TTL seconds, each node acts every LOOP_WAIT.
# A primary that dies is replaced about TTL seconds later (Patroni requires
# loop_wait + 2 * retry_timeout <= ttl).
TTL = 10
LOOP_WAIT = 1
RETRY_TIMEOUT = 3


def _free_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


@dataclass
class Node:
    name: str
    pg_port: int
    api_port: int
    folder: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def status(self) -> dict[str, Any] | None:
        """Patroni's view of this node (`GET /patroni`), or None if it does not answer."""
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.api_port}/patroni", timeout=2
            ) as answer:
                status: dict[str, Any] = json.load(answer)
                return status
        except urllib.error.HTTPError as error:  # 503 for a replica: still a status
            try:
                body: dict[str, Any] = json.load(error)
                return body
            except ValueError:
                return None
        except (OSError, ValueError):
            return None


@dataclass
class Cluster:
    folder: Path
    size: int = 2
    etcd_port: int = 0
    etcd_peer_port: int = 0
    nodes: list[Node] = field(default_factory=list)
    etcd: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        ports = _free_ports(2 + 2 * self.size)
        self.etcd_port = self.etcd_port or ports[0]
        self.etcd_peer_port = self.etcd_peer_port or ports[1]
        if not self.nodes:
            self.nodes = [
                Node(
                    f"node{i + 1}", ports[2 + 2 * i], ports[3 + 2 * i], self.folder / f"node{i + 1}"
                )
                for i in range(self.size)
            ]

    # -- addresses -------------------------------------------------------------

    @property
    def url(self) -> str:
        """The multi-host URL keyturn is given: it always writes to the current primary."""
        hosts = ",".join(f"127.0.0.1:{node.pg_port}" for node in self.nodes)
        return f"postgresql://postgres@{hosts}/{DATABASE}?target_session_attrs=read-write"

    def node_url(self, node: Node, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{node.pg_port}/{database}"

    # -- starting and stopping ---------------------------------------------------

    def start(self, timeout: float = 90) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._start_etcd()
        for node in self.nodes:
            self._start_node(node)
        self._create_database(self.wait_healthy(timeout))

    def _start_etcd(self) -> None:
        data = self.folder / "etcd"
        data.mkdir(parents=True, exist_ok=True)
        peer = f"http://127.0.0.1:{self.etcd_peer_port}"
        client = f"http://127.0.0.1:{self.etcd_port}"
        with (self.folder / "etcd.log").open("wb") as log:  # the child keeps its own copy
            self.etcd = self._etcd_process(data, peer, client, log)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{client}/health", timeout=1) as answer:
                    if json.load(answer).get("health") == "true":
                        return
            except (OSError, ValueError):
                pass
            if self.etcd.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"etcd did not start; see {self.folder / 'etcd.log'}")

    def _etcd_process(
        self, data: Path, peer: str, client: str, log: Any
    ) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                "etcd",
                "--name=keyturn-etcd",
                f"--data-dir={data}",
                f"--listen-client-urls={client}",
                f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=keyturn-etcd={peer}",
                "--initial-cluster-state=new",
                "--enable-v2=false",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def _config(self, node: Node) -> dict[str, Any]:
        trust = [
            "local all all trust",
            "host all all 127.0.0.1/32 trust",
            "host replication all 127.0.0.1/32 trust",
        ]
        return {
            "scope": SCOPE,
            "name": node.name,
            "restapi": {
                "listen": f"127.0.0.1:{node.api_port}",
                "connect_address": f"127.0.0.1:{node.api_port}",
            },
            "etcd3": {"hosts": [f"127.0.0.1:{self.etcd_port}"]},
            "bootstrap": {
                "dcs": {
                    "ttl": TTL,
                    "loop_wait": LOOP_WAIT,
                    "retry_timeout": RETRY_TIMEOUT,
                    "maximum_lag_on_failover": 1048576,
                    # A commit waits for the standby, so what keyturn answered survives
                    # a failover onto it; alone, the primary keeps accepting writes.
                    "synchronous_mode": True,
                    "postgresql": {
                        "use_pg_rewind": True,
                        "parameters": {
                            "synchronous_commit": "on",
                            "wal_level": "replica",
                            "hot_standby": "on",
                            "max_wal_senders": 10,
                            "max_replication_slots": 10,
                            "wal_log_hints": "on",
                            "max_connections": 200,
                        },
                    },
                },
                "initdb": [{"encoding": "UTF8"}, "data-checksums"],
                "pg_hba": trust,
            },
            "postgresql": {
                "listen": f"127.0.0.1:{node.pg_port}",
                "connect_address": f"127.0.0.1:{node.pg_port}",
                "data_dir": str(node.data_dir),
                "bin_dir": str(PG_BIN),
                "pgpass": str(node.folder / "pgpass"),
                "authentication": {
                    "superuser": {"username": "postgres"},
                    "replication": {"username": "postgres"},
                    "rewind": {"username": "postgres"},
                },
                "parameters": {"unix_socket_directories": str(node.folder)},
                "pg_hba": trust,
            },
            "tags": {"nofailover": False, "noloadbalance": False},
        }

    def _start_node(self, node: Node) -> None:
        node.folder.mkdir(parents=True, exist_ok=True)
        config = node.folder / "patroni.yml"
        config.write_text(yaml.safe_dump(self._config(node), sort_keys=False))
        _own(node.folder)
        with (node.folder / "patroni.log").open("ab") as log:  # the child keeps its copy
            node.process = subprocess.Popen(
                ["patroni", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=node.folder,
                **_as_postgres(),
            )

    def stop(self) -> None:
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None:
                node.process.terminate()  # Patroni stops its PostgreSQL on SIGTERM
        for node in self.nodes:
            if node.process is not None:
                try:
                    node.process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    node.process.kill()
                    node.process.wait()
            pid = node.postmaster_pid()
            if pid is not None:
                _kill(pid, signal.SIGKILL)
        if self.etcd is not None and self.etcd.poll() is None:
            self.etcd.terminate()
            try:
                self.etcd.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.etcd.kill()
                self.etcd.wait()

    # -- what tests do to it ---------------------------------------------------

    def members(self) -> dict[str, dict[str, Any]]:
        return {node.name: status for node in self.nodes if (status := node.status())}

    def leader(self) -> Node | None:
        for node in self.nodes:
            status = node.status()
            if status and status.get("role") == "master" and status.get("state") == "running":
                return node
        return None

    def wait_healthy(self, timeout: float = 90) -> Node:
        """Until there is a primary and every other node streams from it synchronously."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            leader = self.leader()
            if leader is not None and self._synchronous(leader):
                return leader
            time.sleep(0.5)
        raise RuntimeError(f"the cluster did not become healthy: {self.members()}")

    def _synchronous(self, leader: Node) -> bool:
        others = [
            n for n in self.nodes if n is not leader and n.process and n.process.poll() is None
        ]
        if not others:
            return True
        replication = (leader.status() or {}).get("replication") or []
        sync = [r for r in replication if r.get("sync_state") in ("sync", "quorum")]
        return len(sync) >= 1 and all(r.get("state") == "streaming" for r in replication)

    def kill_primary(self) -> Node:
        """kill -9 of the primary node: its Patroni and its PostgreSQL, at once."""
        leader = self.leader()
        if leader is None:
            raise RuntimeError("no primary to kill")
        postmaster = leader.postmaster_pid()
        if leader.process is not None:
            leader.process.kill()
        if postmaster is not None:
            _kill(postmaster, signal.SIGKILL)
        if leader.process is not None:
            leader.process.wait()
        return leader

    def wait_new_leader(self, old: Node, timeout: float = 60) -> Node:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            leader = self.leader()
            if leader is not None and leader is not old:
                return leader
            time.sleep(0.2)
        raise RuntimeError(f"no new primary: {self.members()}")

    def _create_database(self, leader: Node) -> None:
        if _psql(leader.pg_port, f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'") != "1":
            _psql(leader.pg_port, f"CREATE DATABASE {DATABASE}")


@dataclass
class Standalone:
    """One PostgreSQL of the test's own, to restart, stop and kill at will (the shared
    server on 5432 is everybody's and must not be broken)."""

    folder: Path
    port: int = 0

    def __post_init__(self) -> None:
        self.port = self.port or free_port()

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE}"

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(
            [
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.folder / "pg.log"),
                *args,
            ],
            check=True,
            capture_output=True,
            **_as_postgres(),
        )

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        _own(self.folder)
        if not self.data_dir.exists():
            subprocess.run(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                ],
                check=True,
                capture_output=True,
                **_as_postgres(),
            )
            options = (
                f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.folder}'\nmax_connections = 200\n"
                "fsync = off\n"
            )
            with (self.data_dir / "postgresql.conf").open("a") as conf:
                conf.write(options)
            self._pg_ctl("start", "-w")
            _psql(self.port, f"CREATE DATABASE {DATABASE}")
            return
        self._pg_ctl("start", "-w")

    def stop(self, mode: str = "fast") -> None:
        self._pg_ctl("stop", "-w", "-m", mode)

    def restart(self) -> None:
        self._pg_ctl("restart", "-w", "-m", "fast")

    def shutdown(self) -> None:
        """At the end: stop it however it is."""
        with contextlib.suppress(subprocess.CalledProcessError):  # stopped already
            self.stop("immediate")


def _psql(port: int, sql: str) -> str:
    """One statement as the superuser on a node; what it printed, unaligned."""
    done = subprocess.run(
        [str(PG_BIN / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-tAc", sql],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def _as_postgres() -> dict[str, Any]:
    """subprocess arguments that drop root for PostgreSQL's sake."""
    if os.geteuid() != 0:
        return {}
    return {"user": "postgres", "group": "postgres", "extra_groups": []}


def _own(path: Path) -> None:
    if os.geteuid() == 0:
        account = pwd.getpwnam("postgres")
        for each in (path, *path.rglob("*")):
            os.chown(each, account.pw_uid, account.pw_gid)


def _kill(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def missing_tools() -> list[str]:
    """What a cluster needs that this machine lacks (Debian: patroni, etcd-server)."""
    needed = {"patroni": "patroni", "etcd": "etcd-server"}
    missing = [package for tool, package in needed.items() if shutil.which(tool) is None]
    if not (PG_BIN / "postgres").exists():
        missing.append("postgresql-15")
    return missing


# -- scripts/cluster ---------------------------------------------------------

STATE = "cluster.json"


def _save(cluster: Cluster, pids: dict[str, int]) -> None:
    state = {
        "url": cluster.url,
        "etcd_port": cluster.etcd_port,
        "etcd_peer_port": cluster.etcd_peer_port,
        "nodes": [
            {"name": n.name, "pg_port": n.pg_port, "api_port": n.api_port} for n in cluster.nodes
        ],
        "pids": pids,
    }
    (cluster.folder / STATE).write_text(json.dumps(state, indent=2))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/cluster", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=("up", "down", "status"))
    parser.add_argument("--dir", default=".cluster", help="where the cluster lives")
    parser.add_argument("--nodes", type=int, default=2, help="PostgreSQL nodes (2 or 3)")
    parser.add_argument("--instances", type=int, default=2, help="keyturn instances")
    parser.add_argument("--port", type=int, default=8000, help="the first keyturn port")
    args = parser.parse_args(argv)
    folder = Path(args.dir).resolve()
    if args.action == "up":
        return _up(folder, args.nodes, args.instances, args.port)
    if args.action == "down":
        return _down(folder)
    return _status(folder)


def _up(folder: Path, size: int, instances: int, first_port: int) -> int:
    if (folder / STATE).exists():
        print(f"a cluster is already up in {folder}; `scripts/cluster down` first", file=sys.stderr)
        return 1
    missing = missing_tools()
    if missing:
        print(f"missing: {' '.join(missing)} (apt-get install them)", file=sys.stderr)
        return 1
    cluster = Cluster(folder, size)
    cluster.start()
    pids = {"etcd": cluster.etcd.pid if cluster.etcd else 0}
    pids.update({n.name: n.process.pid for n in cluster.nodes if n.process})
    secret = os.environ.get("KEYTURN_SECRET_KEY") or _secret(folder)
    for index in range(instances):
        port = first_port + index
        with (folder / f"keyturn-{port}.log").open("ab") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "keyturn",
                    "serve",
                    "--port",
                    str(port),
                    "--database",
                    cluster.url,
                    "--data-dir",
                    str(folder / f"keyturn-{port}"),
                ],
                env={**os.environ, "KEYTURN_SECRET_KEY": secret},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        pids[f"keyturn-{port}"] = process.pid
    _save(cluster, pids)
    print(f"database: {cluster.url}")
    for index in range(instances):
        print(f"keyturn: http://127.0.0.1:{first_port + index}")
    print(f"KEYTURN_SECRET_KEY is in {folder / 'secret'}; stop with `scripts/cluster down`")
    return 0


def _secret(folder: Path) -> str:
    path = folder / "secret"
    if not path.exists():
        import secrets

        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _down(folder: Path) -> int:
    try:
        state = json.loads((folder / STATE).read_text())
    except OSError:
        print(f"no cluster in {folder}", file=sys.stderr)
        return 1
    pids: dict[str, int] = state["pids"]
    # keyturn first, then Patroni (which stops PostgreSQL), then etcd.
    order = sorted(pids, key=lambda name: (not name.startswith("keyturn"), name == "etcd"))
    for name in order:
        _kill(pids[name], signal.SIGTERM)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _alive(pids[name]):
            time.sleep(0.2)
        if _alive(pids[name]):
            _kill(pids[name], signal.SIGKILL)
    for node in state["nodes"]:
        pid_file = folder / node["name"] / "data" / "postmaster.pid"
        if pid_file.exists():
            _kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
    # Its ports were chosen at `up` and live in the data (etcd's member list, say): a
    # cluster is started afresh each time rather than half-remembered.
    shutil.rmtree(folder)
    print(f"stopped, and {folder} removed")
    return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _status(folder: Path) -> int:
    try:
        state = json.loads((folder / STATE).read_text())
    except OSError:
        print(f"no cluster in {folder}")
        return 1
    print(f"database: {state['url']}")
    for node in state["nodes"]:
        status = Node(node["name"], node["pg_port"], node["api_port"], folder).status() or {}
        print(
            f"{node['name']}  port {node['pg_port']}  {status.get('role', 'down')}"
            f"  {status.get('state', '')}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
