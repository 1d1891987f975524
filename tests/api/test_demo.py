"""The README's quick start: `rectify demo` creates the reference data and actually serves it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
from api_harness import TLS, free_port, wait_until_healthy


def test_rectify_demo_serves_the_reference_round_on_the_port_it_is_given(tmp_path: Path) -> None:
    port = free_port()
    database = tmp_path / "demo.db"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RECTIFY_")}
    command = [sys.executable, "-m", "rectify.cli", "demo", "--database", str(database), "--port", str(port)]
    with (tmp_path / "stdout").open("w+b") as stdout, (tmp_path / "stderr").open("w+b") as stderr:
        process = subprocess.Popen(command, cwd=tmp_path, env=environ, stdout=stdout, stderr=stderr)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_until_healthy(url, process, lambda: (tmp_path / "stderr").read_text(errors="replace"))
            health = httpx.get(f"{url}/health", timeout=10, verify=TLS).json()
            assert health["ok"] is True and health["head"] > 0

            rounds = httpx.post(
                f"{url}/graphql", json={"query": "{ rounds { teamName } }"}, timeout=10, verify=TLS
            ).json()
            assert rounds == {"data": {"rounds": [{"teamName": "罗湖区第四巡察组"}]}}

            printed = (tmp_path / "stdout").read_text()
            token = re.search(r"demo inspector token: (\S+)", printed)
            assert token is not None, printed
            me = httpx.post(
                f"{url}/graphql",
                json={"query": "{ me { role } }"},
                headers={"Authorization": f"Bearer {token.group(1)}"},
                timeout=10,
                verify=TLS,
            ).json()
            assert me == {"data": {"me": {"role": "INSPECTOR"}}}
        finally:
            process.terminate()
            process.wait(timeout=10)
    assert database.exists()
    assert not (tmp_path / "rectify.db").exists()  # the demo wrote where it was told, not to the default
