"""enb.tcall: external programs with their status, output, time and peak memory."""
import os
import sys
import time

import pytest

from enb import tcall

BUSY = ("import time\nstart = time.process_time()\nblock = bytearray({mb} << 20)\n"
        "while time.process_time() - start < {seconds}: pass\nprint('done')")


def test_cpu_time_and_peak_memory_of_the_program_and_its_children():
    # the busy work happens in a grandchild: its time and memory still count
    child = BUSY.format(mb=80, seconds=0.3)
    parent = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {child!r}])"
    status, output, seconds, memory_kb = tcall.get_status_output_time_memory(
        [sys.executable, "-c", parent], wall=False)
    assert (status, output) == (0, "done\n")
    assert 0.3 <= seconds < 2.0
    assert memory_kb > 80 * 1024


def test_wall_time_is_reported_when_asked():
    started = time.perf_counter()
    _, _, seconds = tcall.get_status_output_time(["sleep", "0.3"], wall=True)
    assert 0.29 <= seconds <= time.perf_counter() - started
    _, _, cpu = tcall.get_status_output_time(["sleep", "0.3"], wall=False)
    assert cpu < 0.1  # sleeping uses no CPU


def test_report_wall_time_option_is_the_default(fresh_options):
    fresh_options.report_wall_time = True
    _, _, seconds = tcall.get_status_output_time(["sleep", "0.2"])
    assert seconds >= 0.19


def test_a_shell_line_as_enb_1x_plugins_give_it_and_output_merged(tmp_path):
    target = tmp_path / "out.txt"
    status, output, _ = tcall.get_status_output_time(f"echo to-file > {target}; echo out; "
                                                     "echo err >&2")
    assert status == 0 and output == "out\nerr\n"
    assert target.read_text() == "to-file\n"


def test_an_argument_list_is_never_read_by_a_shell(tmp_path):
    crafted = tmp_path / "a b; touch pwned"
    crafted.write_text("x")
    status, output, _ = tcall.get_status_output_time(["cat", crafted])
    assert (status, output) == (0, "x")
    assert not os.path.exists("pwned") and not (tmp_path / "pwned").exists()


def test_an_unexpected_status_raises_with_the_output():
    with pytest.raises(tcall.InvocationError) as raised:
        tcall.get_status_output_time([sys.executable, "-c", "print('bad'); raise SystemExit(3)"])
    assert raised.value.status == 3 and raised.value.output == "bad\n"
    assert "status=3 != 0" in str(raised.value)
    status, output, _ = tcall.get_status_output_time(["false"], expected_status_value=None)
    assert status == 1


def test_a_missing_program_is_an_invocation_error():
    with pytest.raises(tcall.InvocationError, match="cannot run /no/such/program"):
        tcall.get_status_output_time(["/no/such/program"])


def test_a_timeout_stops_the_program_and_its_children(tmp_path):
    pid_file = tmp_path / "pid"
    script = (f"import os, subprocess, time; p = subprocess.Popen(['sleep', '60']); "
              f"open({str(pid_file)!r}, 'w').write(str(p.pid)); time.sleep(60)")
    started = time.perf_counter()
    with pytest.raises(tcall.InvocationTimeoutError) as raised:
        tcall.get_status_output_time([sys.executable, "-c", script], timeout=1)
    assert time.perf_counter() - started < 10
    assert raised.value.status == -1 and isinstance(raised.value, TimeoutError)
    grandchild = int(pid_file.read_text())
    deadline = time.time() + 5
    while time.time() < deadline and os.path.exists(f"/proc/{grandchild}") and \
            open(f"/proc/{grandchild}/stat").read().split()[2] != "Z":
        time.sleep(0.05)
    alive = os.path.exists(f"/proc/{grandchild}") and \
        open(f"/proc/{grandchild}/stat").read().split()[2] != "Z"
    assert not alive, "the program's child outlived the timeout"
