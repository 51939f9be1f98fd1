"""A throwaway PostgreSQL cluster for the tests, and a fresh database per test.

`postgres_server()` gives a `PostgresServer`: either the server named by the environment
variable RACESENSE_TEST_POSTGRES_URL, or a cluster of its own that it starts in a temporary
folder (in /dev/shm where that is a tmpfs with room, else the temp dir) and removes
afterwards. The cluster listens on a Unix socket in that folder only
(no TCP at all), runs with fsync off and small buffers, and trusts local connections.

As root (CI), initdb refuses to run, so the cluster's programs run as the `postgres`
system user (or `nobody` where there is none; RACESENSE_TEST_POSTGRES_OS_USER overrides).

Cleanup does not depend on the test process ending well: a small watchdog process,
started before the cluster, waits for its stdin pipe from the test process to close
(normal teardown, Ctrl-C, or the test process killed outright), then stops the
postmaster and deletes the folder.

Run as a script (`python tests/pg.py`), it starts a cluster, prints its URL and how long
the start took, and removes it again.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

ENV_URL = "RACESENSE_TEST_POSTGRES_URL"
ENV_BINDIR = "RACESENSE_TEST_POSTGRES_BINDIR"
ENV_OS_USER = "RACESENSE_TEST_POSTGRES_OS_USER"
DEFAULT_BINDIR = Path("/usr/lib/postgresql/15/bin")
SUPERUSER = "postgres"
PORT = 5432  # only names the socket file: the socket folder is the cluster's own

# Appended to postgresql.conf: nothing on the network, nothing durable, little memory.
SERVER_SETTINGS = {
    "listen_addresses": "''",
    "port": str(PORT),
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "shared_buffers": "16MB",
    "max_connections": "100",
    "autovacuum": "off",
    "jit": "off",
    "log_min_messages": "warning",
    "log_min_error_statement": "panic",
    "timezone": "'UTC'",
}


class PostgresUnavailable(Exception):
    """No PostgreSQL to start here; the message says why (the tests skip with it)."""


@dataclass(frozen=True)
class PostgresServer:
    """A server the tests may create and drop databases on.

    `admin_url` is a SQLAlchemy URL of a database to connect to for CREATE/DROP DATABASE;
    `database_url(name)` is the URL of database `name` on the same server.
    """

    admin_url: str
    create_options: str = ""  # e.g. "STRATEGY FILE_COPY" (PostgreSQL 15+, a bit faster)

    def database_url(self, name: str) -> str:
        from sqlalchemy.engine import make_url

        url = make_url(self.admin_url).set(database=name)
        return url.render_as_string(hide_password=False)

    def _admin(self, sql: str) -> None:
        from sqlalchemy import create_engine, text
        from sqlalchemy.pool import NullPool

        engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        try:
            with engine.connect() as connection:
                connection.execute(text(sql))
        finally:
            engine.dispose()

    def create_database(self, prefix: str = "racesense_test") -> str:
        """CREATE a new, empty database with a unique name; gives that name."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        self._admin(f'CREATE DATABASE "{name}" {self.create_options}'.rstrip())
        return name

    def drop_database(self, name: str) -> None:
        """DROP the database, ending any connection a test left open to it."""
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    @contextmanager
    def database(self, prefix: str = "racesense_test") -> Iterator[str]:
        """A fresh database's URL for the length of the block; dropped afterwards."""
        name = self.create_database(prefix)
        try:
            yield self.database_url(name)
        finally:
            self.drop_database(name)


def normalize_url(url: str) -> str:
    """The URL with the psycopg (3) driver, whatever driver (if any) it named."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"{ENV_URL} must be a postgresql:// URL, not {parsed.drivername}://")
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def find_bindir() -> Path:
    """The folder of initdb, pg_ctl and postgres; raises PostgresUnavailable if absent."""
    override = os.environ.get(ENV_BINDIR)
    candidates = [Path(override)] if override else [DEFAULT_BINDIR]
    if not override and (on_path := shutil.which("pg_ctl")):
        candidates.append(Path(on_path).resolve().parent)
    tools = ("initdb", "pg_ctl", "postgres")
    for bindir in candidates:
        if all(os.access(bindir / t, os.X_OK) for t in tools) and _major_version(bindir) >= 15:
            return bindir
    looked = ", ".join(str(c) for c in candidates)
    raise PostgresUnavailable(
        f"PostgreSQL 15 not installed: no initdb/pg_ctl/postgres 15+ in {looked} "
        f"(apt-get install postgresql-15, set {ENV_BINDIR}, or set {ENV_URL} to a server)"
    )


def _major_version(bindir: Path) -> int:
    """15 for "postgres (PostgreSQL) 15.18 (Debian ...)"; 0 if it can't be told."""
    try:
        out = subprocess.run(
            [str(bindir / "postgres"), "--version"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env=_server_env(),
        ).stdout
        return int(out.split(")", 1)[1].split()[0].split(".")[0])
    except (OSError, subprocess.SubprocessError, IndexError, ValueError):
        return 0


@dataclass(frozen=True)
class _OsUser:
    name: str
    uid: int
    gid: int


def _cluster_os_user() -> _OsUser | None:
    """Who runs the cluster's programs: None for the current user, another one as root."""
    if os.geteuid() != 0:
        return None
    import pwd

    names = [os.environ[ENV_OS_USER]] if os.environ.get(ENV_OS_USER) else ["postgres", "nobody"]
    for name in names:
        with suppress(KeyError):
            entry = pwd.getpwnam(name)
            if entry.pw_uid != 0:
                return _OsUser(name, entry.pw_uid, entry.pw_gid)
    raise PostgresUnavailable(
        f"running as root and no unprivileged user {' or '.join(names)} to run PostgreSQL as "
        f"(set {ENV_OS_USER})"
    )


def _parent_dir(os_user: _OsUser | None) -> str:
    """Where to make the cluster's folder: /dev/shm if it is a roomy tmpfs (creating files
    there is much faster than on a VM disk: initdb 0.3 s instead of 0.85 s, CREATE DATABASE
    a few ms instead of 0.3 s), else the temp dir, or /tmp when the cluster's user can't
    reach that or its path is too long for a Unix socket (about 100 bytes)."""
    for parent in (Path("/dev/shm"), Path(tempfile.gettempdir()).resolve()):
        with suppress(OSError):
            if (
                parent.is_dir()
                and os.access(parent, os.W_OK | os.X_OK)
                and shutil.disk_usage(parent).free > 1 << 30
                and len(str(parent)) <= 60
                and (os_user is None or _reachable_by_all(parent))
            ):
                return str(parent)
    return "/tmp"


def _reachable_by_all(folder: Path) -> bool:
    return all(f.stat().st_mode & stat.S_IXOTH for f in (folder, *folder.parents))


def _server_env() -> dict[str, str]:
    """This environment less PG* variables (PGDATA, PGPORT... must not steer the cluster)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    env.pop("LANG", None)
    return env


class LocalCluster:
    """A PostgreSQL cluster in a temporary folder, on a Unix socket only.

    Use as a context manager: `with LocalCluster(bindir) as cluster: cluster.server...`.
    """

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.os_user = _cluster_os_user()
        self.base = Path(tempfile.mkdtemp(prefix="racesense-pg-", dir=_parent_dir(self.os_user)))
        self.data = self.base / "data"
        self.log = self.base / "server.log"
        self.start_seconds = 0.0
        self._watchdog: subprocess.Popen[bytes] | None = None
        admin = f"postgresql+psycopg://{SUPERUSER}@/postgres?host={quote(str(self.base))}"
        self.server = PostgresServer(f"{admin}&port={PORT}", "STRATEGY FILE_COPY")

    def __enter__(self) -> LocalCluster:
        try:
            self._start_watchdog()
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        user = self.os_user
        return subprocess.run(
            args,
            cwd=self.base,
            env=_server_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            user=user.uid if user else None,
            group=user.gid if user else None,
            extra_groups=[] if user else None,
        )

    def _start_watchdog(self) -> None:
        # A process of its own session: a Ctrl-C at the terminal does not reach it, and it
        # outlives the test process however that ends. It cleans up once its stdin closes.
        self._watchdog = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--watchdog", str(self.base)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )

    def _start(self) -> None:
        started = time.perf_counter()
        if self.os_user:
            os.chown(self.base, self.os_user.uid, self.os_user.gid)
        initdb = self._run(
            str(self.bindir / "initdb"),
            "--pgdata",
            str(self.data),
            "--username",
            SUPERUSER,
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--locale",
            "C",
            "--no-sync",
            "--no-instructions",
        )
        if initdb.returncode != 0:
            raise RuntimeError(f"initdb failed ({initdb.returncode}):\n{initdb.stderr}")
        settings = {**SERVER_SETTINGS, "unix_socket_directories": f"'{self.base}'"}
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\n# racesense tests: a throwaway cluster\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        pg_ctl = self._run(
            str(self.bindir / "pg_ctl"),
            "start",
            "--pgdata",
            str(self.data),
            "--log",
            str(self.log),
            "--wait",
            "--timeout",
            "60",
            "--silent",
        )
        if pg_ctl.returncode != 0:
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            raise RuntimeError(f"pg_ctl start failed ({pg_ctl.returncode}):\n{pg_ctl.stderr}{log}")
        self.start_seconds = time.perf_counter() - started

    def close(self) -> None:
        """Stop the cluster and delete its folder (by way of the watchdog, if it runs)."""
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None and watchdog.stdin is not None:
            watchdog.stdin.close()
            try:
                watchdog.wait(timeout=60)
            except subprocess.TimeoutExpired:
                watchdog.kill()
                watchdog.wait()
        # Without a watchdog (or should it have failed), do it here.
        stop_postmaster(self.data)
        shutil.rmtree(self.base, ignore_errors=True)


def stop_postmaster(data: Path) -> None:
    """Fast shutdown of the postmaster of `data`, harder if it lingers; no-op if none."""
    pidfile = data / "postmaster.pid"
    try:
        pid = int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    for sig, seconds in ((signal.SIGINT, 20.0), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not pidfile.exists():
                return
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.02)


def _watchdog_main(base: Path) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    with suppress(OSError):
        while sys.stdin.buffer.read(65536):
            pass
    stop_postmaster(base / "data")
    shutil.rmtree(base, ignore_errors=True)


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """The server named by RACESENSE_TEST_POSTGRES_URL, else a throwaway local cluster.

    Raises PostgresUnavailable when there is neither (no PostgreSQL binaries here).
    """
    external = os.environ.get(ENV_URL)
    if external:
        yield PostgresServer(admin_url=normalize_url(external))
        return
    with LocalCluster(find_bindir()) as cluster:
        yield cluster.server


def _demo() -> None:
    started = time.perf_counter()
    with LocalCluster(find_bindir()) as cluster:
        print(f"cluster started in {cluster.start_seconds:.2f} s: {cluster.server.admin_url}")
        created = time.perf_counter()
        name = cluster.server.create_database()
        print(f"CREATE DATABASE {name}: {time.perf_counter() - created:.3f} s")
        dropped = time.perf_counter()
        cluster.server.drop_database(name)
        print(f"DROP DATABASE: {time.perf_counter() - dropped:.3f} s")
        stopping = time.perf_counter()
    print(f"stopped and removed in {time.perf_counter() - stopping:.2f} s")
    print(f"total {time.perf_counter() - started:.2f} s; folder left: {cluster.base.exists()}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--watchdog":
        _watchdog_main(Path(sys.argv[2]))
    else:
        _demo()
