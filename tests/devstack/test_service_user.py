"""As root, PostgreSQL runs as a system user that the first stack creates. On a new machine two
stacks start at once (the suite's two workers do): both must end up with the same, existing user,
or one hands its cluster to a uid that is gone and initdb fails with "Permission denied"."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
import time
import uuid

ASK = """
import sys, time
from pathlib import Path
import devstack.postgres as pg
pg.SERVICE_USER, pg.SHARED_DIR = sys.argv[1], Path(sys.argv[2])
time.sleep(max(0.0, float(sys.argv[3]) - time.time()))
print(pg._service_user().pw_uid)
"""


def test_two_stacks_starting_at_once_create_one_user(tmp_path) -> None:
    if os.geteuid() != 0:  # not root: the server runs as ourselves, and no user is made
        from devstack.postgres import _service_user

        assert _service_user() is None
        return
    name = f"adtech-t{uuid.uuid4().hex[:8]}"
    at = str(time.time() + 3)  # both processes ask at the same moment, once imported
    try:
        asks = [
            subprocess.Popen(
                [sys.executable, "-c", ASK, name, str(tmp_path / "shared"), at],
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        uids = {int(ask.communicate(timeout=60)[0]) for ask in asks}
        assert uids == {pwd.getpwnam(name).pw_uid}
    finally:
        subprocess.run(["userdel", name], capture_output=True)
        subprocess.run(["groupdel", name], capture_output=True)
