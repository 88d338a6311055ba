"""Plumbing for the real-browser test: a throw-away JupyterLab server and JupyterLab UI waits.

Measured facts behind the choices here (JupyterLab 4.6, Debian Chromium, Playwright):
per-run Jupyter dirs (else a saved workspace reopens old tabs),
``--allow-root`` and ``port_retries=0``, the news popup disabled only by a settings
``overrides.json``, and the status bar (not the toolbar) as the kernel-idle signal.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

#: Hard upper bound on the server's life: it stops by itself even if the test process dies.
SERVER_LIFETIME_S = 240
SERVER_START_TIMEOUT_S = 45

#: Settings that keep pop-ups out of the way of the test (measured: only an
#: ``overrides.json`` disables the news popup; "fetchNews" is a string in the schema).
SETTINGS_OVERRIDES = {
    "@jupyterlab/apputils-extension:notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}

#: Chromium flags measured to work headless here.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

KERNEL_IDLE_TEXT = "Python 3 (ipykernel) | Idle"


@dataclass
class LabServer:
    process: subprocess.Popen
    port: int
    token: str
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.base_url}/{path.lstrip('/')}{sep}token={self.token}"

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no server log)"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def venv_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment with this interpreter's bin dir first on PATH.

    nbgrader runs ``alembic`` (and JupyterLab its kernels) by name, so running the venv's
    python without activating the venv is not enough.
    """
    env = dict(os.environ if base is None else base)
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    return env


def jupyter_dirs(run_dir: Path) -> dict[str, str]:
    """Per-run Jupyter/IPython dirs, so no saved workspace or user setting leaks in."""
    dirs = {
        "JUPYTER_CONFIG_DIR": run_dir / "config",
        "JUPYTER_DATA_DIR": run_dir / "data",
        "JUPYTER_RUNTIME_DIR": run_dir / "runtime",
        "JUPYTERLAB_SETTINGS_DIR": run_dir / "config" / "lab" / "user-settings",
        "JUPYTERLAB_WORKSPACES_DIR": run_dir / "config" / "lab" / "workspaces",
        "IPYTHONDIR": run_dir / "ipython",
    }
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    return {k: str(v) for k, v in dirs.items()}


def _status_ok(port: int, token: str) -> bool:
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/status",
                                 headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(req, timeout=2) as resp:
            if resp.status != 200:
                return False
            json.loads(resp.read().decode())
            return True
    except (OSError, urllib.error.URLError, ValueError):
        return False


def stop_process(process: subprocess.Popen, grace_s: float = 10.0) -> None:
    """Stop a process we started (and its process group, which we created), by its pid."""
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@contextmanager
def jupyterlab(root: Path, run_dir: Path, *, attempts: int = 3) -> Iterator[LabServer]:
    """JupyterLab from this venv on 127.0.0.1 serving ``root``; always stopped on exit."""
    run_dir.mkdir(parents=True, exist_ok=True)
    settings_dir = run_dir / "app-settings"
    settings_dir.mkdir(exist_ok=True)
    (settings_dir / "overrides.json").write_text(json.dumps(SETTINGS_OVERRIDES, indent=1))
    env = venv_env()
    env.update(jupyter_dirs(run_dir))
    env.pop("JUPYTER_TOKEN", None)
    timeout_bin = shutil.which("timeout")
    last_error = ""
    for attempt in range(attempts):
        port, token = free_port(), secrets.token_hex(24)
        log_path = run_dir / f"jupyterlab-{attempt}.log"
        cmd = [
            sys.executable, "-m", "jupyterlab",
            "--no-browser", "--allow-root",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.token={token}",
            f"--ServerApp.root_dir={root}",
            f"--LabApp.app_settings_dir={settings_dir}",
            # Bounded life even if nobody stops it (the `timeout` below is the hard bound).
            f"--ServerApp.shutdown_no_activity_timeout={SERVER_LIFETIME_S}",
            "--MappingKernelManager.cull_idle_timeout=120",
        ]
        if timeout_bin:
            cmd = [timeout_bin, "-k", "10", str(SERVER_LIFETIME_S), *cmd]
        with open(log_path, "wb") as log:
            process = subprocess.Popen(cmd, cwd=root, env=env, stdout=log,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       start_new_session=True)
        server = LabServer(process, port, token, log_path)
        try:
            deadline = time.monotonic() + SERVER_START_TIMEOUT_S
            while time.monotonic() < deadline and process.poll() is None:
                if _status_ok(port, token):
                    break
                time.sleep(0.2)
            if process.poll() is not None or not _status_ok(port, token):
                last_error = (f"JupyterLab did not answer /api/status on port {port} "
                              f"(exit code {process.poll()}):\n{server.log_tail()}")
                stop_process(process)
                continue  # e.g. the port was taken between free_port() and bind
            yield server
            return
        finally:
            stop_process(process)
    raise RuntimeError(last_error)


# ----------------------------------------------------------------------------- JupyterLab UI


def wait_kernel_idle(page, timeout_ms: int) -> None:
    """Wait until the status bar reads "Python 3 (ipykernel) | Idle".

    The toolbar's kernel indicator reads idle while the kernel is still connecting, and Run
    All then silently does nothing (measured); the status bar text is reliable.
    """
    page.wait_for_function(
        """text => {
            const bar = document.querySelector('#jp-main-statusbar');
            return !!bar && [...bar.querySelectorAll('*')]
                .some(el => el.children.length === 0 && el.textContent.trim() === text);
        }""",
        arg=KERNEL_IDLE_TEXT, timeout=timeout_ms, polling=200,
    )


def status_bar_text(page) -> str:
    try:
        return page.locator("#jp-main-statusbar").inner_text(timeout=2000)
    except Exception:  # noqa: BLE001 - diagnostics only
        return "(no status bar)"


def code_cell_prompts(page) -> list[str]:
    """The input prompts of the active notebook's code cells: "[3]:", "[*]:", "[ ]:"."""
    return page.evaluate(
        """() => [...document.querySelectorAll(
                '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-CodeCell')]
             .map(c => (c.querySelector('.jp-InputPrompt')?.textContent || '').trim())"""
    )


def wait_all_executed(page, timeout_ms: int) -> None:
    """Wait until every code cell shows an execution count and the kernel is idle again."""
    page.wait_for_function(
        """idle => {
            const cells = [...document.querySelectorAll(
                '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-CodeCell')];
            if (!cells.length) return false;
            const done = cells.every(c => /^\\[\\d+\\]:$/.test(
                (c.querySelector('.jp-InputPrompt')?.textContent || '').trim()));
            const bar = document.querySelector('#jp-main-statusbar');
            const isIdle = !!bar && [...bar.querySelectorAll('*')]
                .some(el => el.children.length === 0 && el.textContent.trim() === idle);
            return done && isIdle;
        }""",
        arg=KERNEL_IDLE_TEXT, timeout=timeout_ms, polling=250,
    )


def run_all_cells(page) -> None:
    """Run → Run All Cells, through the menu bar as a learner would."""
    page.locator("#jp-menu-panel .lm-MenuBar-itemLabel", has_text="Run").first.click()
    label = page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$"))
    page.locator(".lm-Menu-item:not(.lm-mod-disabled)").filter(has=label).click()


def screenshot(page, directory: Path, name: str) -> Path | None:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.png"
    try:
        page.screenshot(path=str(path), full_page=True, timeout=10_000)
    except Exception:  # noqa: BLE001 - a failed screenshot must not hide the real failure
        return None
    return path
