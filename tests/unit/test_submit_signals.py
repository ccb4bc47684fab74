"""`toollife submit` stays spark-submit's parent and hands a SIGTERM to the job's Python driver only
(a stand-in: ``sh`` for the JVM, a Python child for the driver; no Spark)."""

from __future__ import annotations

import signal
import subprocess
import sys

FAKE_JOB = """import signal, sys, time
def stop(*_):
    open(sys.argv[1], "w").write("stopped gracefully")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
print("ready", flush=True)
time.sleep(60)
sys.exit(3)
"""
SUPERVISOR = """import sys
from toollife.runtime.submit import supervise
sys.exit(supervise(["sh", "-c", f"{sys.executable} {sys.argv[1]} {sys.argv[2]}; code=$?; echo jvm-saw-no-signal; exit $code"],
                   {"PATH": "/usr/bin:/bin"}, "fake_job.py"))
"""


def test_sigterm_to_submit_reaches_the_driver_alone_and_its_exit_code_comes_back(tmp_path):
    job, marker = tmp_path / "fake_job.py", tmp_path / "marker"
    job.write_text(FAKE_JOB)
    proc = subprocess.Popen([sys.executable, "-c", SUPERVISOR, str(job), str(marker)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        assert marker.read_text() == "stopped gracefully"
        assert "jvm-saw-no-signal" in proc.stdout.read()   # the stand-in JVM went on and exited normally
    finally:
        if proc.poll() is None:
            proc.kill()
