"""The reader of a BMC's system UUID (templates/drbd/bmc-system-uuid.py),
run for real against the lab's Redfish BMC (lab/bmc.py), which reports each
guest's machine UUID as QEMU gives it (lab/lab.sh -uuid). The fence check
(tests/test_fence_peer.py) compares what it prints with the peer's own."""

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
READER = ROOT / "templates/drbd/bmc-system-uuid.py"
sys.path.insert(0, str(ROOT / "lab"))
import bmc  # noqa: E402  (lab/bmc.py)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """lab/bmc.py serving on a free port, with a lab.sh stand-in that says
    every guest runs."""
    work = tmp_path_factory.mktemp("bmc")
    lab_sh = work / "lab.sh"
    lab_sh.write_text("#!/bin/sh\ntrue\n")
    lab_sh.chmod(0o755)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    secrets = work / "secrets"
    proc = subprocess.Popen([sys.executable, str(ROOT / "lab/bmc.py"), "serve", str(work / "state"), str(secrets),
                             str(port)], env={"TWONODE_LAB_SH": str(lab_sh), "PATH": "/usr/bin:/bin"})
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, "lab/bmc.py did not start"
            time.sleep(0.2)
    user, password = bmc.credentials(secrets)
    yield port, user, password, bmc.certificate(secrets)[0]
    proc.terminate()
    proc.wait(timeout=10)


def read(port: int, user: str, password: str, uri: str, *, insecure: str | None = "1", ca: Path | None = None):
    """The reader with these agent options; ``insecure``: ssl_insecure's value (None: not given)."""
    options = f"ip=127.0.0.1\nipport={port}\nusername={user}\npassword={password}\nsystems_uri={uri}\n" + \
        (f"ssl_insecure={insecure}\n" if insecure is not None else "")
    env = {"PATH": "/usr/bin:/bin", **({"REQUESTS_CA_BUNDLE": str(ca)} if ca else {})}
    return subprocess.run([sys.executable, str(READER)], input=options, env=env, capture_output=True, text=True,
                          timeout=60)


def test_each_system_reports_the_machine_uuid_qemu_gives_its_guest(server):
    port, user, password, _ = server
    for node in ("fiori", "torchio", "spare"):
        done = read(port, user, password, f"/redfish/v1/Systems/{node}")
        assert (done.returncode, done.stdout.strip()) == (0, bmc.system_uuid(node)), done
    assert bmc.system_uuid("fiori") != bmc.system_uuid("torchio")
    lab_sh = (ROOT / "lab/lab.sh").read_text()
    assert '-uuid "$(python3 "$HERE/bmc.py" uuid "$n")"' in lab_sh


def test_a_wrong_password_fails_and_the_reason_never_holds_the_password(server):
    port, user, password, _ = server
    done = read(port, user, "not-" + password, "/redfish/v1/Systems/torchio")
    assert done.returncode == 1 and "401" in done.stdout, done
    assert password not in done.stdout + done.stderr


def test_a_certificate_that_does_not_name_the_address_fails(server):
    # The pinned certificate names the guests' address of the BMC, not
    # 127.0.0.1: verified, it is refused, as fence_redfish would refuse it.
    port, user, password, cert = server
    done = read(port, user, password, "/redfish/v1/Systems/torchio", insecure=None, ca=cert)
    assert done.returncode == 1 and "SSLError" in done.stdout, done
    # ssl_insecure without a value that sets it leaves the check on, as
    # fence_redfish reads it (and as the model counts it: verified TLS).
    for value in ("", "0", "no"):
        done = read(port, user, password, "/redfish/v1/Systems/torchio", insecure=value, ca=cert)
        assert done.returncode == 1 and "SSLError" in done.stdout, (value, done)
