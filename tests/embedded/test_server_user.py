"""As root, the servers run as a system user created on first use -- once, even when several
processes (pytest workers, two test runs) ask for it at the same moment."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time

import pytest

from pgkeel.embedded.postgres import server_user

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("useradd") is None or shutil.which("userdel") is None,
    reason="creates a system user: needs root and useradd/userdel")

ASK = ("import sys, time\nfrom pgkeel.embedded.postgres import server_user\n"
       "time.sleep(max(0.0, float(sys.argv[2]) - time.time()))\n"  # all start together
       "print(server_user(sys.argv[1]).pw_uid)\n")


def test_processes_asking_at_once_all_get_the_one_user_created():
    name = f"pgkt_{secrets.token_hex(4)}"  # a throwaway user: the real one may be in use
    try:
        start = str(time.time() + 3)  # after every process has imported pgkeel
        asking = [subprocess.Popen([sys.executable, "-c", ASK, name, start],
                                   stdout=subprocess.PIPE, text=True) for _ in range(4)]
        uids = {int(proc.communicate(timeout=60)[0]) for proc in asking}
        assert all(proc.returncode == 0 for proc in asking)
        assert uids == {server_user(name).pw_uid}  # every process saw the uid that stayed
    finally:
        subprocess.run(["userdel", name], check=False, capture_output=True)
