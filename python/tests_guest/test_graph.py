"""A picture of the demo environment (examples/tiny/LagoInitFile): `lago
status --format dot` and `lago graph -o FILE` draw every VM and net of it,
with each NIC's IP, through Graphviz's real `dot`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def lago(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from lago.cmd import run; run()", *args],
        cwd=cwd, capture_output=True, text=True, check=False, env=os.environ.copy(),
    )


def test_the_demo_environment_is_drawn(lago_test_env: dict[str, str], scratch: Path) -> None:
    shutil.copy(REPO / "examples" / "tiny" / "LagoInitFile", scratch / "LagoInitFile")
    r = lago(scratch, "init")
    assert r.returncode == 0, r.stderr
    try:
        status = lago(scratch, "-f", "json", "status")
        assert status.returncode == 0, status.stderr
        import json

        info = json.loads(status.stdout)["Prefix"]
        vms, nets = sorted(info["VMs"]), sorted(info["Networks"])
        assert vms == ["vm0", "vm1"] and nets == ["lan"]

        r = lago(scratch, "status", "--format", "dot")
        assert r.returncode == 0, r.stderr
        source = r.stdout
        assert source.startswith("graph ") and source.rstrip().endswith("}"), source
        for vm in vms:
            ip = info["VMs"][vm]["NICs"]["eth0"]["ip"]
            assert re.fullmatch(r"192\.168\.\d+\.\d+", ip), ip
            distro = info["VMs"][vm]["distro"]
            assert f'"vm:{vm}" [shape=box label="{vm}\\n{distro}\\ndown" fillcolor=lightgrey];' in source, source
            assert f'"vm:{vm}" -- "net:lan" [label="eth0\\n{ip}"];' in source, source
        assert '"net:lan" [shape=ellipse label="lan\\nnat ' in source and "\\nmanagement\\ndown" in source

        # Graphviz accepts it: SVG text names every VM, net and IP; PNG is a PNG
        r = lago(scratch, "graph", "-o", "env.svg")
        assert r.returncode == 0, r.stderr
        svg = (scratch / "env.svg").read_text()
        assert "<svg" in svg
        for name in [*vms, *nets, *(info["VMs"][v]["NICs"]["eth0"]["ip"] for v in vms)]:
            assert f">{name}</text>" in svg, (name, svg)
        r = lago(scratch, "graph", "-o", "env.png")
        assert r.returncode == 0, r.stderr
        assert (scratch / "env.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        r = lago(scratch, "graph", "-o", "env.dot")
        assert r.returncode == 0 and (scratch / "env.dot").read_text() == source

        # bad input: one line naming what is valid
        r = lago(scratch, "graph", "-o", "env.jpeg")
        assert r.returncode == 2 and "unknown suffix '.jpeg'; valid are .svg, .png" in r.stderr, r.stderr
        r = lago(scratch, "status", "--format", "xml")
        assert r.returncode == 2 and "unknown status format 'xml': valid are dot, default" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
    finally:
        r = lago(scratch, "destroy", "-y")
    assert r.returncode == 0, r.stderr
