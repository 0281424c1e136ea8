"""The progress bar: shown on a terminal for long get_df calls, never otherwise."""
import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import textwrap
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(tmp_path, extra_args=(), tty=True):
    script = tmp_path / "long.py"
    script.write_text(textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {REPO!r})
        import enb
        class Long(enb.atable.ATable):
            def column_v(self, index, row):
                time.sleep(0.1)
                if index == 3:
                    raise ValueError("three")
                return index
        try:
            Long().get_df(target_indices=list(range(30)))
        except enb.atable.ColumnFailedError:
            pass
    """))
    env = dict(os.environ)
    env.pop("ENB_IGNORE_ARGV", None)
    if not tty:
        result = subprocess.run([sys.executable, str(script), *extra_args], env=env,
                                capture_output=True, text=True, timeout=60)
        return result.stderr
    leader, follower = pty.openpty()
    # A terminal of 24 rows x 100 columns, as a user's would be.
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    process = subprocess.Popen([sys.executable, str(script), "--cpu_limit", "2", *extra_args],
                               env=env, stdin=follower, stdout=follower, stderr=follower)
    os.close(follower)
    output = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    process.wait(timeout=10)
    os.close(leader)
    return output.decode(errors="replace")


def test_bar_on_a_terminal_shows_rows_rate_eta_and_failures(tmp_path):
    output = _run(tmp_path)
    assert "/30" in output and "row/s" in output
    assert "failed=1" in output
    assert "eta=" in output  # our ETA (tqdm's own says 00:00 while the last rows hang)


def test_no_bar_when_disabled_or_not_a_terminal(tmp_path):
    assert "row/s" not in _run(tmp_path, ["--disable_progress_bar"])
    assert "row/s" not in _run(tmp_path, tty=False)
