"""gunicorn.conf.py: each web worker freezes the heap it loaded, so full garbage collections
walk only what requests created (they used to stop a worker for 60-110 ms)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FREEZE_IN_A_WORKER = """
import gc, runpy
import django
django.setup()
hooks = runpy.run_path("gunicorn.conf.py")
before = gc.get_freeze_count()
hooks["post_worker_init"](None)
import sys
print(before, gc.get_freeze_count(), "conversations.webhooks.status" in sys.modules)
"""


def test_a_web_worker_freezes_the_loaded_app_after_importing_every_view():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "smsdesk.settings"}
    result = subprocess.run(
        [sys.executable, "-c", FREEZE_IN_A_WORKER],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    before, after, views_loaded = result.stdout.split()
    assert int(before) == 0
    assert int(after) > 10_000  # Django, the app and its views: tens of thousands of objects
    assert views_loaded == "True"
