"""The Python quick starts of docs/bindings.md, run as written."""

import os
import re
import subprocess
import sys

DOC = os.path.join(os.path.dirname(__file__), "..", "..", "..", "docs", "bindings.md")


def blocks():
    with open(DOC) as f:
        return re.findall(r"```python\n(.*?)```", f.read(), re.S)


def run(code):
    env = dict(os.environ, PYTHONPATH=os.path.join(os.path.dirname(__file__), ".."))
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def test_disruptor_quick_start():
    res = run(blocks()[0])
    assert res.returncode == 0, res.stderr
    assert "polled [b'hello', b'from', b'Python', b'in', b'place']" in res.stdout
    handled = [l for l in res.stdout.splitlines() if l.startswith("handled")]
    assert handled and handled[0].startswith("handled 0 [b'hello'")


def test_client_quick_start(server_url):
    code = blocks()[1].replace("http://127.0.0.1:8080", server_url)
    res = run(code)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == [
        "[{'id': 1, 'item': 'book'}, {'id': 2}, None]",
        "{'id': 1, 'item': 'book'} 0",
    ]
