"""The local-process pool's workers stopped at any moment: the pool and the script end."""
import os
import signal
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import os, struct, sys, time
    from enb.executors.local_process import LocalProcessExecutor

    def no_setup():
        pass

    def stopped_while_sending(flag):
        # What a worker stopped in the middle of sending its result leaves in the pipe: a
        # message's header and part of its bytes.
        queue = sys._getframe(1).f_locals["result_queue"]
        os.write(queue._writer.fileno(), struct.pack("!i", 1 << 20) + b"x" * 100)
        open(flag, "w").close()
        time.sleep(600)

    flag = sys.argv[1]
    pool = LocalProcessExecutor(cpu_limit=1).open_pool(no_setup)
    future = pool.submit(stopped_while_sending, flag)
    while not os.path.exists(flag):
        time.sleep(0.01)
    pool.close(cancel=True)  # as after Ctrl-C or an error in the run
    error = future.exception(timeout=60)
    print("ended with", type(error).__name__, flush=True)
""")


def test_workers_stopped_while_sending_a_result_leave_no_thread_waiting(tmp_path):
    """Without closing the result pipe, the pool's thread waits for the rest of the message
    for ever: the future never ends and the interpreter hangs at exit, joining that thread."""
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    process = subprocess.Popen([sys.executable, str(script), str(tmp_path / "flag")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        out, err = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise AssertionError("the script did not end: the pool's thread still waits") from None
    assert process.returncode == 0, err
    assert out.strip() == "ended with WorkerLostError"
