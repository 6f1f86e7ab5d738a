"""Real use: JupyterLab serves the course, a kernel runs course code, notebooks need no network.

These tests start real processes on this machine only: a JupyterLab server on a free loopback
port, and a notebook executed inside a fresh network namespace where only loopback exists.
"""

import asyncio
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = "00_pytorch_basics.ipynb"
pytestmark = pytest.mark.real_use


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read()


@contextlib.contextmanager
def running_lab(root: Path, log: Path):
    """A headless JupyterLab on ``root``, as `make lab` starts it, with a known token."""
    port, token = free_port(), uuid.uuid4().hex
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
           f"--port={port}", f"--IdentityProvider.token={token}", f"--notebook-dir={root}"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    with log.open("w") as stderr:
        server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=stderr, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if get(f"{base}/api/status?token={token}")[0] == 200:
                break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"JupyterLab did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
    try:
        yield base, token
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab on the course's notebooks/."""
    with running_lab(ROOT / "notebooks", tmp_path_factory.mktemp("lab") / "log") as server:
        yield server


def test_lab_page_is_served_with_the_clashing_mathjax_disabled(lab):
    base, token = lab
    status, body = get(f"{base}/lab?token={token}")
    assert status == 200
    page = body.decode()
    assert "JupyterLab" in page
    marker = re.search(r"<script id=\"jupyter-config-data\"[^>]*>(.*?)</script>", page, re.S)
    config = json.loads(marker[1])
    assert "@jupyterlab/mathjax3-extension" in config["disabledExtensions"]


@pytest.mark.parametrize("lang", ["sk", "sr", "ru"])
def test_notebooks_are_served_through_the_rest_api(lab, lang):
    base, token = lab
    status, body = get(f"{base}/api/contents/{lang}/{NOTEBOOK}?token={token}")
    assert status == 200
    model = json.loads(body)
    assert model["type"] == "notebook"
    assert f'setup(lang=\\"{lang}\\")' in json.dumps(model["content"]["cells"])


def test_a_kernel_started_by_the_server_runs_course_code(lab):
    base, token = lab
    request = urllib.request.Request(f"{base}/api/kernels?token={token}", data=b"{}",
                                     method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        kernel_id = json.loads(response.read())["id"]
    code = 'from course_lib import setup\ncourse = setup(lang="ru")\nprint(6 * 7)'
    stdout, status = asyncio.run(execute_over_websocket(base, token, kernel_id, code))
    assert status == "ok"
    assert "42" in stdout and "профиль" in stdout


async def execute_over_websocket(base: str, token: str, kernel_id: str, code: str):
    from tornado.websocket import websocket_connect

    url = f"{base.replace('http', 'ws')}/api/kernels/{kernel_id}/channels?token={token}"
    ws = await websocket_connect(url)
    msg_id = uuid.uuid4().hex
    await ws.write_message(json.dumps({
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "test",
                   "session": uuid.uuid4().hex, "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": False,
                    "user_expressions": {}, "allow_stdin": False},
    }))
    stdout, status = "", None
    deadline = time.monotonic() + 120
    while status is None and time.monotonic() < deadline:
        raw = await asyncio.wait_for(ws.read_message(), timeout=120)
        msg = json.loads(raw)
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            stdout += msg["content"]["text"]
        elif msg["msg_type"] == "execute_reply":
            status = msg["content"]["status"]
    ws.close()
    return stdout, status


def network_namespace_available() -> str | None:
    """Why a private network namespace cannot be made here, or None when it can."""
    if not shutil.which("unshare") or not shutil.which("ip"):
        return "unshare or ip (iproute2) is not installed"
    probe = subprocess.run(["unshare", "-rn", "ip", "link", "set", "lo", "up"],
                           capture_output=True, text=True, check=False)
    return None if probe.returncode == 0 else f"unshare -rn refused: {probe.stderr.strip()}"


def test_a_notebook_runs_with_the_network_disabled(tmp_path):
    reason = network_namespace_available()
    if reason:
        pytest.skip(reason)
    notebook = tmp_path / NOTEBOOK
    shutil.copy(ROOT / "notebooks" / "sk" / NOTEBOOK, notebook)
    script = (
        "ip link set lo up && test \"$(ip -o link | wc -l)\" = 1 && test -z \"$(ip route)\" && "
        f"{sys.executable} {ROOT / 'tools' / 'execute_notebooks.py'} {notebook}"
    )
    result = subprocess.run(["unshare", "-rn", "sh", "-c", script], capture_output=True,
                            text=True, timeout=300, check=False, env=os.environ.copy())
    assert result.returncode == 0, result.stderr[-3000:]
    assert NOTEBOOK in result.stdout


def browser_json(text: str):
    """What ``JSON.parse`` in JupyterLab's page makes of ``text``, as Python values.

    JavaScript has one number type: ``4.0`` arrives as 4 and ``JSON.stringify`` sends back
    ``4``, which Python then reads as an int. Every other value survives unchanged.
    """
    def number(literal: str):
        value = float(literal)
        return int(value) if value.is_integer() and abs(value) < 1e21 else value

    return json.loads(text, parse_float=number)


def as_jupyterlab_sends(content: dict) -> dict:
    """The notebook model JupyterLab 4 saves (``NotebookModel.toJSON``) for a notebook it
    loaded and did not change: each cell's id, type, source, metadata, attachments if any,
    outputs and execution count; the notebook's metadata and format version."""
    cells = []
    for cell in content["cells"]:
        keys = ["id", "cell_type", "source", "metadata", "attachments"]
        keys += ["outputs", "execution_count"] if cell["cell_type"] == "code" else []
        cells.append({key: cell[key] for key in keys if key in cell})
    return {"cells": cells, "metadata": content["metadata"], "nbformat": content["nbformat"],
            "nbformat_minor": content["nbformat_minor"]}


@pytest.fixture(scope="module")
def lab_on_copies(tmp_path_factory):
    """JupyterLab on a copy of every course notebook, free to save them."""
    root = tmp_path_factory.mktemp("copies")
    for path in sorted((ROOT / "notebooks").glob("*/*.ipynb")):
        (root / path.parent.name).mkdir(exist_ok=True)
        shutil.copy(path, root / path.parent.name / path.name)
    with running_lab(root, tmp_path_factory.mktemp("lab") / "log") as server:
        yield root, server


NOTEBOOKS = sorted(f"{p.parent.name}/{p.name}" for p in (ROOT / "notebooks").glob("*/*.ipynb"))


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_saving_in_jupyterlab_leaves_a_committed_notebook_byte_for_byte_unchanged(
        lab_on_copies, name):
    """RISE's slide preview (Alt+R) saves the notebook: that must not dirty git."""
    root, (base, token) = lab_on_copies
    before = (root / name).read_bytes()
    url = f"{base}/api/contents/{name}?token={token}"
    _, body = get(f"{url}&type=notebook&content=1")
    model = browser_json(body.decode("utf-8"))
    assert model["type"] == "notebook"
    payload = {"type": "notebook", "format": "json",
               "content": as_jupyterlab_sends(model["content"])}
    request = urllib.request.Request(url, data=json.dumps(payload).encode("utf-8"), method="PUT",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 200
    assert (root / name).read_bytes() == before
