"""Beat after a broker error whose reconnect failed too: Celery's own scheduler kept the
producer with its closed channel and failed every later send with "channel disconnected",
for ever (seen in CI: a stack whose feed was never polled); ours sends the next due task on
a new connection. Run in a process of its own: the Celery app reads its settings (the
embedded broker under a home of the test's) when first imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import json, sys
from celery.beat import ScheduleEntry
from celery.utils.imports import symbol_by_name
from worker.launch.celery_app import app

Scheduler = symbol_by_name(app.conf.beat_scheduler)
s = Scheduler(app=app, schedule_filename=sys.argv[1], lazy=True)
s.setup_schedule()
entry = ScheduleEntry(name="sweep", task="handoff.sweep", schedule=60, app=app)
sent = []

def send():
    try:
        s.apply_async(entry, producer=s.producer, advance=False)
        sent.append("sent")
    except Exception as err:
        sent.append(str(err))

send()
s.producer.channel.close()  # as kombu leaves it when its own reconnect failed
s.connection.close()
send()
send()
send()
print(json.dumps({"scheduler": type(s).__module__, "sent": sent}))
"""


def test_a_send_that_failed_on_a_broken_link_is_followed_by_one_on_a_new_link(
        tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HANDOFF_")}
    env["HANDOFF_HOME"] = str(tmp_path)
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "schedule")],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["scheduler"] == "worker.launch.beat"  # celeryconfig's beat_scheduler
    first, broken, *after = result["sent"]
    assert first == "sent"
    assert "channel disconnected" in broken  # the one send lost (the next tick sends again)
    assert after == ["sent", "sent"]
