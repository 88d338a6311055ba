"""Plumbing for the JupyterHub classroom test: system users, a throw-away hub, REST calls.

The hub runs as root from this venv (JupyterHub's ``LocalProcessSpawner`` needs root to start a
server as each user), with ``configurable-http-proxy`` from npm, both on 127.0.0.1 only. The
test's users are real system accounts created here and deleted at the end; everything they
run is found by their uid, so stopping them never touches another process.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from browser_helpers import free_port, stop_process
from conftest import ROOT

#: Hard upper bound on the hub's life (``timeout`` kills it; it stops its proxy and servers).
HUB_LIFETIME_S = 1200
HUB_START_TIMEOUT_S = 60
SERVER_START_TIMEOUT_S = 120
#: What marks an account as this test's own (``useradd --comment``): only those are removed.
USER_COMMENT = "cs231n JupyterHub test account"
SERVICE = "cs231n-test"


def find_proxy() -> str | None:
    """``configurable-http-proxy``: the repo's npm prefix (``.ci/run``), else PATH."""
    local = ROOT / ".cache" / "npm" / "node_modules" / ".bin" / "configurable-http-proxy"
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    return shutil.which("configurable-http-proxy")


def blocking_directories(*paths: str) -> list[Path]:
    """Every directory on the real paths of ``paths`` that other users cannot traverse."""
    out: list[Path] = []
    for path in paths:
        real = Path(os.path.realpath(path))
        for part in [*reversed(real.parents), real]:
            if part.is_dir() and not os.stat(part).st_mode & 0o001 and part not in out:
                out.append(part)
    return out


@contextlib.contextmanager
def traversable(directories: list[Path]):
    """Let other users traverse ``directories`` (o+x only: no listing, no reading of what is
    not already readable) for the duration; their exact modes come back afterwards. On this
    kind of machine pyenv's interpreter lives under ``/root`` (mode 0700)."""
    modes = {d: stat.S_IMODE(os.stat(d).st_mode) for d in directories}
    try:
        for directory, mode in modes.items():
            os.chmod(directory, mode | 0o001)
        yield
    finally:
        for directory, mode in modes.items():
            os.chmod(directory, mode)


# ----------------------------------------------------------------------------- system users


@dataclass(frozen=True)
class SystemUser:
    name: str
    uid: int
    gid: int
    home: Path

    def env(self, extra_path: str = "") -> dict[str, str]:
        """A clean login-like environment (this venv's bin first on PATH: nbgrader runs
        ``alembic`` by name)."""
        path = os.pathsep.join(p for p in (str(Path(sys.executable).parent), extra_path,
                                            "/usr/local/bin:/usr/bin:/bin") if p)
        return {"HOME": str(self.home), "USER": self.name, "LOGNAME": self.name,
                "PATH": path, "LANG": "C.UTF-8", "TMPDIR": "/tmp"}

    def run(self, argv: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess:
        """Run ``argv`` as this user (real setuid, as a login would)."""
        return subprocess.run(argv, cwd=cwd, env=self.env(), user=self.uid, group=self.gid,
                              extra_groups=[], umask=0o022, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)


def _account(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def create_user(name: str, home: Path) -> SystemUser:
    """A system account with its own group and ``home`` (mode 0700, owned by it).

    A leftover account of an earlier, killed run (same name, this test's comment) is removed
    first; any other account of that name is never touched.
    """
    old = _account(name)
    if old is not None:
        if old.pw_gecos != USER_COMMENT:
            raise RuntimeError(f"a system user {name!r} exists and is not this test's")
        delete_user(name)
    subprocess.run(["useradd", "--comment", USER_COMMENT, "--home-dir", str(home),
                    "--no-create-home", "--user-group", "--shell", "/bin/sh", name],
                   check=True, capture_output=True, text=True, timeout=30)
    entry = pwd.getpwnam(name)
    home.mkdir(parents=True, exist_ok=True)
    os.chown(home, entry.pw_uid, entry.pw_gid)
    home.chmod(0o700)
    return SystemUser(name, entry.pw_uid, entry.pw_gid, home)


def processes_of(uid: int) -> list[int]:
    """Pids of the processes whose real uid is ``uid`` (read from /proc)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("Uid:"):
                if int(line.split()[1]) == uid:
                    pids.append(int(entry.name))
                break
    return pids


def kill_processes_of(uid: int) -> None:
    """Stop what a test account still runs, by pid (TERM, then KILL)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = processes_of(uid)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and processes_of(uid):
            time.sleep(0.2)


def delete_user(name: str) -> None:
    """Remove one of this test's accounts (its processes first; the home stays for rmtree)."""
    entry = _account(name)
    if entry is None or entry.pw_gecos != USER_COMMENT:
        return
    kill_processes_of(entry.pw_uid)
    subprocess.run(["userdel", name], capture_output=True, text=True, timeout=30)


# ----------------------------------------------------------------------------- the hub


class HubError(RuntimeError):
    pass


@dataclass
class Hub:
    process: subprocess.Popen
    port: int  # the proxy's public port: every URL below goes through it
    service_token: str
    password: str
    run_dir: Path
    log_path: Path
    proxy_pid_file: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, n: int = 80) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no hub log)"

    def request(self, method: str, path: str, token: str, body: object = None,
                form: dict[str, str] | None = None, timeout: float = 120) -> tuple[int, object]:
        """One HTTP call through the proxy with ``Authorization: token``; (status, JSON or
        text)."""
        headers = {"Authorization": f"token {token}"}
        data = None
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.base_url + path, data=data, headers=headers,
                                     method=method)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, raw = resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read().decode(errors="replace")
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw

    def api(self, method: str, path: str, body: object = None) -> object:
        """The hub's REST API as the test's admin service; raises on a non-2xx answer."""
        status, out = self.request(method, "/hub/api" + path, self.service_token, body)
        if not 200 <= status < 300:
            raise HubError(f"{method} /hub/api{path}: {status} {out}\n{self.log_tail()}")
        return out

    def user_token(self, user: str) -> str:
        out = self.api("POST", f"/users/{user}/tokens",
                       {"note": "cs231n test", "expires_in": HUB_LIFETIME_S})
        return out["token"]

    def start_server(self, user: str) -> None:
        """Spawn ``user``'s single-user server and wait until the hub says it is ready."""
        status, out = self.request("POST", f"/hub/api/users/{user}/server", self.service_token)
        if status not in (201, 202, 400):  # 400: already running
            raise HubError(f"start {user}: {status} {out}\n{self.log_tail()}")
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while time.monotonic() < deadline:
            model = self.api("GET", f"/users/{user}")
            server = (model.get("servers") or {}).get("")
            if server and server.get("ready"):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.5)
        raise HubError(f"{user}'s server not ready in {SERVER_START_TIMEOUT_S} s\n"
                       f"{self.log_tail()}")


def _hub_config(*, port: int, hub_port: int, api_port: int, proxy: str, service_token: str,
                password: str, users: list[str], run_dir: Path) -> str:
    """jupyterhub_config.py: 127.0.0.1 only, one shared password (a test's authenticator),
    local processes started as the users."""
    venv_bin = str(Path(sys.executable).parent)
    settings = {
        "JupyterHub.ip": "127.0.0.1",
        "JupyterHub.port": port,
        "JupyterHub.hub_ip": "127.0.0.1",
        "JupyterHub.hub_port": hub_port,
        "JupyterHub.db_url": f"sqlite:///{run_dir / 'jupyterhub.sqlite'}",
        "JupyterHub.cookie_secret_file": str(run_dir / "jupyterhub_cookie_secret"),
        "JupyterHub.pid_file": str(run_dir / "jupyterhub.pid"),
        "JupyterHub.authenticator_class": "shared-password",
        "JupyterHub.spawner_class": "jupyterhub.spawner.LocalProcessSpawner",
        "JupyterHub.cleanup_servers": True,
        "JupyterHub.cleanup_proxy": True,
        "JupyterHub.services": [{"name": SERVICE, "api_token": service_token}],
        "JupyterHub.load_roles": [{
            "name": SERVICE, "services": [SERVICE],
            "scopes": ["admin:users", "admin:servers", "tokens", "access:servers",
                       "list:users", "read:users"]}],
        "ConfigurableHTTPProxy.command": [proxy],
        "ConfigurableHTTPProxy.api_url": f"http://127.0.0.1:{api_port}",
        "ConfigurableHTTPProxy.pid_file": str(run_dir / "proxy.pid"),
        "SharedPasswordAuthenticator.user_password": password,
        "Authenticator.allowed_users": set(users),
        "Spawner.cmd": [f"{venv_bin}/jupyterhub-singleuser"],
        "Spawner.default_url": "/lab",
        "Spawner.environment": {"PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
                                "LANG": "C.UTF-8"},
        # Bounded even if the hub dies without stopping them.
        "Spawner.args": ["--ServerApp.shutdown_no_activity_timeout=900",
                         "--MappingKernelManager.cull_idle_timeout=120"],
        "Spawner.start_timeout": SERVER_START_TIMEOUT_S,
        "Spawner.http_timeout": SERVER_START_TIMEOUT_S,
    }
    lines = ["# Written by tests/hub_helpers.py for one test run.", "c = get_config()  # noqa"]
    for key, value in settings.items():
        lines.append(f"c.{key} = {value!r}")
    return "\n".join(lines) + "\n"


def start_hub(run_dir: Path, proxy: str, users: list[str], attempts: int = 2) -> Hub:
    """JupyterHub (root, this venv) with its proxy on free 127.0.0.1 ports, up and answering.

    The caller stops it with :func:`stop_hub` (also on failure).
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    timeout_bin = shutil.which("timeout")
    last = ""
    for attempt in range(attempts):
        port, hub_port, api_port = free_port(), free_port(), free_port()
        token, password = secrets.token_hex(24), secrets.token_hex(12)
        config = run_dir / "jupyterhub_config.py"
        config.write_text(_hub_config(
            port=port, hub_port=hub_port, api_port=api_port, proxy=proxy,
            service_token=token, password=password, users=users, run_dir=run_dir))
        cmd = [str(Path(sys.executable).parent / "jupyterhub"), "-f", str(config)]
        if timeout_bin:
            cmd = [timeout_bin, "-k", "20", str(HUB_LIFETIME_S), *cmd]
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("JUPYTER", "PYTHONPATH", "CONFIGPROXY"))}
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        log_path = run_dir / f"jupyterhub-{attempt}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(cmd, cwd=run_dir, env=env, stdout=log,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       start_new_session=True)
        hub = Hub(process, port, token, password, run_dir, log_path, run_dir / "proxy.pid")
        deadline = time.monotonic() + HUB_START_TIMEOUT_S
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if hub.request("GET", "/hub/api/", token, timeout=5)[0] == 200:
                    return hub
            except OSError:  # not listening yet
                pass
            time.sleep(0.3)
        last = f"the hub did not answer on port {port}:\n{hub.log_tail()}"
        stop_hub(hub)
    raise HubError(last)


def stop_hub(hub: Hub, grace_s: float = 20.0) -> None:
    """SIGTERM lets the hub stop its users' servers and its proxy; then the proxy by its pid
    file if it is still there."""
    if hub.process.poll() is None:
        try:
            os.killpg(hub.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            hub.process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            stop_process(hub.process, grace_s=1)
    try:
        pid = int(hub.proxy_pid_file.read_text().strip())
    except (OSError, ValueError):
        return
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return
    if b"configurable-http-proxy" in cmdline:  # our proxy, not a reused pid
        os.kill(pid, signal.SIGTERM)
