"""Run a project mount's pipeline, and end it when told to or when its starter dies.

Run on the head as ``python -I -c SOURCE DPIPE_ARGV...``, as the parent of the pipeline that
serves a node's mount (dpipe's whole process group: dpipe, ssh, sftp-server). It stops the
pipeline on SIGTERM, SIGHUP or SIGINT, and when its own parent, the process that mounted, dies:
then it is re-parented, and polling ``getppid()`` notices within 0.2 s whatever killed the
parent. (PR_SET_PDEATHSIG would fire when the *thread* that started it ends, and a node's mount
is started from a short-lived thread.) It exits with the pipeline's status. Standard library
only.
"""
import os
import signal
import subprocess
import sys
import time


def main(argv):
    parent = os.getppid()
    stop = []
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.append(1))
    pipeline = subprocess.Popen(argv, preexec_fn=os.setpgrp)
    while pipeline.poll() is None and not stop and os.getppid() == parent:
        time.sleep(0.2)

    def kill(sig):
        try:
            os.killpg(pipeline.pid, sig)
        except OSError:
            pass

    if pipeline.poll() is None:
        kill(signal.SIGTERM)
        try:
            pipeline.wait(3)
        except subprocess.TimeoutExpired:
            pass
    kill(signal.SIGKILL)
    status = pipeline.wait()
    return status if status >= 0 else 128 - status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
