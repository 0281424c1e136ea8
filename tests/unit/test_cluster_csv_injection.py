"""A cluster file with a shell metacharacter in a field: rejected before anything runs."""
import os
import subprocess
import sys
import textwrap

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_metacharacter_in_cluster_csv_is_rejected_and_never_executed(tmp_path):
    marker = tmp_path / "executed"
    (tmp_path / "enb_cluster.csv").write_text(
        "address,ssh_user,ssh_port,local_ssh_file,cpu_limit\n"
        f"127.0.0.1;touch {marker},,,,\n"
        f"127.0.0.1,$(touch {marker}),,,\n")
    script = tmp_path / "s.py"
    script.write_text(textwrap.dedent(f"""
        import sys; sys.path.insert(0, {REPO!r})
        import enb
        class T(enb.atable.ATable):
            def column_v(self, index, row):
                return index
        T().get_df(target_indices=[1])
    """))
    env = dict(os.environ)
    env.pop("ENB_IGNORE_ARGV", None)
    result = subprocess.run([sys.executable, str(script), "--ssh_cluster_csv_path",
                             "enb_cluster.csv"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode != 0
    assert "enb_cluster.csv:2" in result.stderr and "address" in result.stderr
    assert not marker.exists()
