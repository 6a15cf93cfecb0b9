"""A run worker's pid is checked as the process that announced it, not just any process
under that number."""

import subprocess
import sys
import time

from hokusai_assets.services.processes import START_TIME_SLACK_SECONDS, process_alive

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def test_a_running_process_is_alive_and_a_reaped_one_is_not():
    process = subprocess.Popen(SLEEPER)
    try:
        assert process_alive(process.pid, announced_at=time.time())
    finally:
        process.kill()
        process.wait()
    assert not process_alive(process.pid, announced_at=time.time())


def test_a_killed_process_nobody_reaped_yet_is_not_alive():
    process = subprocess.Popen(SLEEPER)
    try:
        process.kill()
        deadline = time.monotonic() + 10
        # SIGKILL is delivered at once, but the zombie state shows a moment later.
        while process_alive(process.pid, announced_at=time.time()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not process_alive(process.pid, announced_at=time.time())
        assert process.poll() is not None  # only now reaped
    finally:
        process.wait()


def test_a_pid_now_held_by_a_process_started_after_the_announcement_is_not_the_worker():
    announced = time.time() - 10 * START_TIME_SLACK_SECONDS  # as if the worker announced itself long ago
    process = subprocess.Popen(SLEEPER)
    try:
        assert not process_alive(process.pid, announced_at=announced)
        assert process_alive(process.pid, announced_at=time.time())
    finally:
        process.kill()
        process.wait()
