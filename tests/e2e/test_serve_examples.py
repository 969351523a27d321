"""`grammarflow serve` works on every example: each example runs for real (`grammarflow
run`, whatever it ends with: succeeded, broken, waiting for a person), then every page
and every piece of JSON of its run is asked of the application — the run, its picture
now, at the start and halfway, every task in full, a restart's preview, the runs — and
each answers (no error, no traceback), its picture an SVG."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from grammarflow.web import Keys, Server, hosts_of, make_app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.name for p in (ROOT / "examples").glob("*.py")
                  if not p.name.startswith("test_"))


@pytest.mark.parametrize("example", EXAMPLES)
def test_serve_shows_every_example(example: str, tmp_path: Path) -> None:
    db = tmp_path / "gf.db"
    done = subprocess.run([sys.executable, "-m", "grammarflow", "run",
                           f"examples/{example}", "--db", str(db), "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=240,
                          env={**os.environ, "EXAMPLE_SEED": "3"})
    assert done.returncode in (0, 1, 3, 4), done.stderr  # ran: to an end, or to a person
    app = make_app(Server(db, Keys("t", 8765), read_only=False), hosts_of("127.0.0.1", 8765))
    c = TestClient(app, base_url="http://127.0.0.1:8765",
                   headers={"authorization": "Bearer t"})
    runs = c.get("/api/runs")
    assert runs.status_code == 200 and [r["run"] for r in runs.json()] == [1]
    assert c.get("/runs/1").status_code == 200
    view = c.get("/api/runs/1")
    assert view.status_code == 200, view.text
    view_json = view.json()
    last = view_json["seq"]
    for at in ("", "0", str(last // 2)):
        picture = c.get("/api/runs/1/picture", params={"at": at} if at else {})
        assert picture.status_code == 200, (at, picture.text)
        assert picture.json()["svg"].startswith("<svg")
    for task in view_json["tasks"]:
        shown = c.get("/api/runs/1/task", params={"id": task["id"]})
        assert shown.status_code == 200 and shown.json()["id"] == task["id"], shown.text
    if view_json["tasks"]:
        preview = c.get("/api/runs/1/restart-preview",
                        params={"task": view_json["tasks"][0]["id"]})
        assert preview.status_code == 200, preview.text
