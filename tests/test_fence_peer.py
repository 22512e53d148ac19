"""The fence-peer handler (templates/drbd/fence-peer.sh) run for real, with
a fake fence agent, a fake drbdadm and the real event handler: its exit
codes are the ones DRBD acts on (7: the peer is off, I/O resumes; anything
else: I/O stays frozen), so each rule is checked by what it returns and
whom it asked to power off. The lab (tests/lab/test_7) runs it with
fence_redfish and a BMC."""

import subprocess
import time
from pathlib import Path

import jinja2
import pytest

from twonode.fencing import agent_options
from twonode.model.nodes import Bmc

ROOT = Path(__file__).resolve().parents[1]
HANDLER = ROOT / "templates/drbd/fence-peer.sh"
CONF_TEMPLATE = ROOT / "templates/drbd/fence-handler.conf.j2"
#: '=', spaces, both quotes, a '$' and a backslash: a password a shell line would mangle.
PASSWORD = """p=ss w'o"rd $HOME\\x"""
EVENT = ROOT / "templates/drbd/drbd-event.sh"

FAKE_AGENT = """#!/bin/sh
# A fence agent: options on stdin, as fence-agents read them. Each call's
# stdin is kept whole; its argv and environment go to the calls log.
input=$(cat)
n=$(ls "$WORK"/stdin.* 2>/dev/null | wc -l)
printf '%s\\n' "$input" > "$WORK/stdin.$n"
echo "argv: $*" >> "$CALLS"
env | sed 's/^/env: /' >> "$CALLS"
action=$(echo "$input" | sed -n 's/^action=//p')
echo "$action" >> "$CALLS"
echo "agent $action" >> "$WORK/log"
[ -e "$WORK/bmc-down" ] && exit 1
case $action in
  off) if [ "$(cat "$WORK/power")" = off ]; then echo "Success: Already OFF"; else echo off > "$WORK/power"; echo "Success: Powered OFF"; fi ;;
  on) echo on > "$WORK/power"; echo "Success: Powered ON" ;;
  status) if [ "$(cat "$WORK/power")" = on ]; then echo "Status: ON"; else echo "Status: OFF"; exit 2; fi ;;
esac
"""
FAKE_DRBDADM = """#!/bin/sh
case $1 in
  dstate) cat "$WORK/dstate" ;;
  cstate) cat "$WORK/cstate" ;;
esac
"""


@pytest.fixture
def node(tmp_path):
    work = tmp_path
    for name, text in (("bin/drbdadm", FAKE_DRBDADM), ("bin/logger", "#!/bin/sh\necho \"$*\" >> \"$WORK/log\"\n"),
                       ("bin/journalctl", "#!/bin/sh\necho \"journalctl $*\" >> \"$WORK/log\"\n"),
                       ("agents/fence_fake", FAKE_AGENT)):
        path = work / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        path.chmod(0o755)
    (work / "fence").mkdir()
    # What the deploy writes there: its template, and fencing.agent_options()
    # for a BMC of the model, with a password that a shell would split.
    (work / "fence/handler.conf").write_text(jinja2.Template(CONF_TEMPLATE.read_text()).render(
        peer="torchio", agent="fence_fake", delay=0, agent_time=10))
    bmc = Bmc(agent="fence_redfish", address="10.0.2.100", username="twonode-lab",
              options={"ssl_insecure": "1", "systems_uri": "/redfish/v1/Systems/1"}, accept_unverified_tls=True)
    (work / "fence/peer-options").write_text(agent_options(bmc, PASSWORD))
    (work / "power").write_text("on\n")
    (work / "uptime").write_text("5321.07 5100.00\n")
    (work / "bin/dmesg").write_text("#!/bin/sh\ntrue\n")
    (work / "bin/dmesg").chmod(0o755)
    (work / "dstate").write_text("UpToDate/DUnknown\n")
    (work / "cstate").write_text("WFConnection\n")
    return work


def run(work: Path, *args: str, stderr: list[str] | None = None) -> int:
    env = {"PATH": f"{work}/bin:/usr/bin:/bin", "WORK": str(work), "CALLS": str(work / "calls"),
           "DRBD_RESOURCE": "drbd_small", "TWONODE_FENCE_DIR": str(work / "fence"),
           "TWONODE_FENCE_CHECKED": str(work / "state/fence-check"), "TWONODE_PROC_DRBD": str(work / "proc-drbd"),
           "TWONODE_RUN_DIR": str(work / "run"), "TWONODE_AGENT_DIR": str(work / "agents"),
           "TWONODE_UPTIME": str(work / "uptime"), "TWONODE_BMC_SYSTEM_UUID": str(work / "bin/bmc-system-uuid"),
           "TWONODE_EVENT_HANDLER": str(work / "event"), "TWONODE_EVENTS": str(work / "events")}
    (work / "event").write_text(f"#!/bin/sh\nexec sh {EVENT} \"$@\"\n")
    (work / "event").chmod(0o755)
    done = subprocess.run(["bash", str(HANDLER), *args], env=env, capture_output=True, text=True, timeout=60)
    if stderr is not None:
        stderr.append(done.stderr)
    return done.returncode


def calls(work: Path) -> list[str]:
    """The actions the agent was asked for, in order."""
    path = work / "calls"
    return [line for line in path.read_text().splitlines()
            if not line.startswith(("argv", "env: "))] if path.exists() else []


def stdins(work: Path) -> list[str]:
    return [(work / f"stdin.{n}").read_text() for n in range(len(list(work.glob("stdin.*"))))]


def events(work: Path) -> list[str]:
    path = work / "events"
    return [line.split()[2] for line in path.read_text().splitlines()] if path.exists() else []


def wait_for_calls(work: Path, count: int) -> list[str]:
    deadline = time.monotonic() + 10
    while len(calls(work)) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    return calls(work)


def test_a_peer_that_was_on_is_powered_off_then_on_again(node):
    assert run(node) == 7
    assert wait_for_calls(node, 2) == ["off", "on"]
    # The password reached the agent on stdin, as one line, whole; never
    # its command line, its environment or any log.
    assert [text.splitlines().count(f"password={PASSWORD}") for text in stdins(node)] == [1, 1]
    for leaked in ("calls", "log", "events"):
        assert PASSWORD not in (node / leaked).read_text() and "w'o" not in (node / leaked).read_text(), leaked
    assert events(node) == ["fenced-peer"]
    assert (node / "run/peer-fenced").exists()


def test_a_peer_found_off_is_left_off(node):
    (node / "power").write_text("off\n")
    assert run(node) == 7
    time.sleep(1)
    assert calls(node) == ["off"]


@pytest.mark.parametrize("disk", ["Consistent", "Inconsistent", "Outdated"])
def test_a_node_without_uptodate_data_never_fences(node, disk):
    (node / "dstate").write_text(f"{disk}/DUnknown\n")
    assert run(node) == 1
    assert calls(node) == [] and events(node) == ["fence-refused"]


def test_a_bmc_that_does_not_answer_leaves_io_frozen(node):
    (node / "bmc-down").touch()
    assert run(node) == 1
    assert events(node) == ["fence-failed"] and not (node / "run/peer-fenced").exists()


def test_one_fence_serves_every_resource(node):
    assert run(node) == 7
    wait_for_calls(node, 2)
    assert run(node) == 7  # the next resource, moments later
    assert calls(node) == ["off", "on"]


def test_the_waiting_node_does_not_fence_once_the_link_is_back(node):
    (node / "fence/handler.conf").write_text("peer=fiori\nagent=fence_fake\ndelay=1\n")
    (node / "cstate").write_text("Connected\n")
    assert run(node) == 1
    assert calls(node) == []


def test_every_record_is_synced_to_disk_without_holding_the_frozen_io(node):
    # A failed fence is followed within a minute by o2cb restarting the
    # node; on the lab that restart lost journal entries logged 30 s before
    # it, crit ones included (tests/lab/test_8 reads them back). Each record
    # is followed by a journal sync, which the handler does not wait for:
    # DRBD's I/O stays frozen until the handler returns.
    (node / "bin/journalctl").write_text("#!/bin/sh\nsleep 3\necho \"journalctl $*\" >> \"$WORK/log\"\n")
    (node / "bmc-down").touch()
    t0 = time.monotonic()
    assert run(node) == 1
    assert time.monotonic() - t0 < 2.5
    time.sleep(4)
    log = (node / "log").read_text().splitlines()
    records = [line for line in log if line.startswith(("-t ", "-p "))]
    assert len(records) == 3, log  # "fencing torchio", "FENCING torchio FAILED", the event
    assert log.count("journalctl --sync") == 3, log


def test_the_background_power_on_does_not_hold_the_other_resources_handlers(node):
    # Every resource's handler runs at the same moment; the first fences,
    # and powers the peer back on in the background. The others must not
    # wait for that boot with their I/O frozen.
    agent = node / "agents/fence_fake"
    agent.write_text(agent.read_text().replace('  on) echo on', '  on) sleep 8; echo on'))
    assert run(node) == 7
    t0 = time.monotonic()
    assert run(node) == 7  # the next resource
    assert time.monotonic() - t0 < 4
    assert wait_for_calls(node, 2) == ["off", "on"]


def connected_in_kernel_log(node: Path, after_fence: float) -> None:
    """A stand-in dmesg whose log has a resource Connected ``after_fence``
    seconds after the fence (negative: before it)."""
    fenced_at = float((node / "run/peer-fenced").read_text())
    line = (f"[{fenced_at + after_fence:12.6f}] drbd drbd_small/0 drbd0: peer( Unknown -> Secondary ) "
            "conn( WFReportParams -> Connected ) pdsk( DUnknown -> UpToDate )")
    (node / "bin/dmesg").write_text(f"#!/bin/sh\necho '{line}'\n")
    (node / "bin/dmesg").chmod(0o755)


def test_a_fence_is_reused_while_the_peer_stayed_away(node):
    assert run(node) == 7
    wait_for_calls(node, 2)
    connected_in_kernel_log(node, after_fence=-30)  # the connection the fence ended
    assert run(node) == 7
    assert calls(node) == ["off", "on"]


def test_a_peer_that_came_back_and_was_lost_again_is_fenced_again(node):
    # Powered on again by the fence, it rejoined (a resource Connected),
    # and the link broke again within the two minutes: a new fence, not
    # "already stonithed" with the peer up and Primary.
    assert run(node) == 7
    wait_for_calls(node, 2)
    connected_in_kernel_log(node, after_fence=40)
    assert run(node) == 7
    assert wait_for_calls(node, 4) == ["off", "on", "off", "on"]


# --- check: the agent's status of the peer (the deploy, and hourly).

def checked(work: Path) -> list[str]:
    return (work / "state/fence-check").read_text().split()


def test_a_check_asks_the_status_only_and_records_on(node):
    assert run(node, "check", "--running") == 0
    assert calls(node) == ["status"]
    at, result, last_on = checked(node)
    assert result == "on" and at == last_on and int(at) > 0
    assert [text.splitlines().count(f"password={PASSWORD}") for text in stdins(node)] == [1]
    assert PASSWORD not in (node / "log").read_text() and PASSWORD not in (node / "calls").read_text()
    assert "torchio's BMC answers: torchio is on" in (node / "log").read_text()
    assert (node / "power").read_text() == "on\n" and events(node) == []


def test_a_bmc_that_says_off_while_the_peer_runs_is_an_alarm_and_keeps_the_last_on(node):
    # A wrong address or systems_uri: the BMC of a machine that is off.
    assert run(node, "check", "--running") == 0
    last_on = checked(node)[2]
    (node / "power").write_text("off\n")
    assert run(node, "check", "--running") == 2
    assert checked(node)[1:] == ["off", last_on]
    log = (node / "log").read_text()
    assert "-p daemon.crit" in log and "says torchio is OFF while it runs" in log, log


def test_off_on_the_timer_without_a_connection_is_no_alarm(node):
    (node / "power").write_text("off\n")
    (node / "proc-drbd").write_text(" 0: cs:WFConnection ro:Primary/Unknown ds:UpToDate/DUnknown C r-----\n")
    assert run(node, "check") == 2
    assert checked(node)[1:] == ["off", "0"]
    assert "daemon.crit" not in (node / "log").read_text()
    # ...but with a connection the peer runs: then it is one.
    (node / "proc-drbd").write_text(" 0: cs:Connected ro:Primary/Primary ds:UpToDate/UpToDate C r-----\n")
    assert run(node, "check") == 2
    assert "-p daemon.crit" in (node / "log").read_text()


def test_a_bmc_that_does_not_answer_is_failed(node):
    (node / "bmc-down").touch()
    assert run(node, "check", "--running") == 1
    assert checked(node)[1:] == ["failed", "0"]
    log = (node / "log").read_text()
    assert "did not answer fence_fake status: " in log and "(asked 3 times)" in log, log
    assert calls(node) == ["status"] * 3


def test_one_failed_answer_is_asked_again(node):
    # The BMC did not answer once (busy, a lost packet): the next answer counts.
    agent = node / "agents/fence_fake"
    agent.write_text(agent.read_text().replace(
        '[ -e "$WORK/bmc-down" ] && exit 1', '[ -e "$WORK/failed-once" ] || { touch "$WORK/failed-once"; exit 1; }'))
    assert run(node, "check", "--running") == 0
    assert calls(node) == ["status", "status"] and checked(node)[1] == "on"


def test_an_agent_slower_than_agent_time_is_warned_about_and_its_answer_stands(node):
    # Its status alone takes longer than the fence it would have to land in
    # agent_time: a warning that says why; the answer (on) is the check's.
    conf = node / "fence/handler.conf"
    conf.write_text(conf.read_text().replace("agent_time=10", "agent_time=1"))
    agent = node / "agents/fence_fake"
    agent.write_text(agent.read_text().replace("action=$(echo", "sleep 3\naction=$(echo"))
    assert run(node, "check", "--running") == 0
    assert checked(node)[1] == "on" and calls(node) == ["status"]
    log = (node / "log").read_text()
    assert "-p daemon.warning" in log and "to answer fence_fake status, more than agent_time (1 s)" in log, log
    assert "daemon.crit" not in log, log
    # Within agent_time: no warning.
    (node / "log").unlink()
    conf.write_text(conf.read_text().replace("agent_time=1", "agent_time=10"))
    assert run(node, "check", "--running") == 0 and checked(node)[1] == "on"
    assert "agent_time" not in (node / "log").read_text()


def test_the_first_check_reads_the_new_settings_only(node):
    # The deploy's first check, on a node with no settings in place yet:
    # the staged ones are asked about, and nothing fails to read.
    (node / "fence").rename(node / "fence.new")
    stderr: list[str] = []
    assert run(node, "check", "--running", str(node / "fence.new"), stderr=stderr) == 0
    assert calls(node) == ["status"] and checked(node)[1] == "on"
    assert stderr[0] == "check: torchio's BMC answers: torchio is on (fence_fake status)\n", stderr


def test_the_fact_reads_what_a_check_wrote(node):
    from facts.fencing import FenceChecked
    assert run(node, "check", "--running") == 0
    (node / "power").write_text("off\n")
    assert run(node, "check", "--running") == 2
    at, result, last_on = checked(node)
    found = FenceChecked().process((node / "state/fence-check").read_text().splitlines())
    assert (found.at, found.result, found.last_on) == (int(at), "off", int(last_on))
    assert not found.proves_fencing and last_on != "0"


def test_a_check_of_new_settings_reads_them_from_their_directory(node):
    # The deploy's new settings, beside the ones in use until they pass.
    new = node / "fence.new"
    new.mkdir()
    (new / "handler.conf").write_text((node / "fence/handler.conf").read_text())
    bmc = Bmc(agent="fence_redfish", address="10.0.2.100", username="twonode-lab",
              options={"ssl_insecure": "1", "systems_uri": "/redfish/v1/Systems/spare"}, accept_unverified_tls=True)
    (new / "peer-options").write_text(agent_options(bmc, PASSWORD))
    assert run(node, "check", "--running", str(new)) == 0
    assert "systems_uri=/redfish/v1/Systems/spare" in stdins(node)[0]
    assert "systems_uri=/redfish/v1/Systems/1" in (node / "fence/peer-options").read_text()


def agent_environments(work: Path) -> list[str]:
    """REQUESTS_CA_BUNDLE as each call of the agent saw it ("" when unset)."""
    out, current = [], None
    for line in (work / "calls").read_text().splitlines():
        if line.startswith("argv: "):
            if current is not None:
                out.append(current)
            current = ""
        elif line.startswith("env: REQUESTS_CA_BUNDLE="):
            current = line.split("=", 1)[1]
    return out + [current]


def test_a_pinned_certificate_is_the_only_one_the_agent_trusts_in_a_check_and_a_fence(node):
    (node / "fence/handler.conf").write_text(jinja2.Template(CONF_TEMPLATE.read_text()).render(
        peer="torchio", agent="fence_fake", delay=0, agent_time=10, ca_sha256="ab" * 32))
    (node / "fence.new").mkdir()
    for name in ("handler.conf", "peer-options"):
        (node / "fence.new" / name).write_text((node / "fence" / name).read_text())
    assert run(node, "check", "--running", str(node / "fence.new")) == 0
    assert run(node) == 7
    wait_for_calls(node, 3)
    assert agent_environments(node) == [f"{node}/fence.new/bmc-ca.pem", f"{node}/fence/bmc-ca.pem",
                                        f"{node}/fence/bmc-ca.pem"]


def test_without_a_pinned_certificate_the_agent_has_the_systems_cas(node):
    assert run(node, "check", "--running") == 0
    assert agent_environments(node) == [""]


# --- Whose BMC: the system's UUID against the peer's own ----------------------

TORCHIO_UUID = "2c503f9d-2867-5ddf-a1df-172d2062c13f"
FIORI_UUID = "8bb135ae-5331-516a-94a8-ec29cc38eb28"
#: A stand-in for bmc-system-uuid (tests/test_bmc_system_uuid.py runs the
#: real one against the lab's BMC): the UUID in $WORK/bmc-uuid, or its
#: failure; its stdin and environment kept.
FAKE_READER = """#!/bin/sh
cat > "$WORK/reader.stdin"
env > "$WORK/reader.env"
[ -e "$WORK/reader-fails" ] && { echo "https://10.0.2.100:443/x: ConnectTimeout: timed out"; exit 1; }
cat "$WORK/bmc-uuid"
"""


@pytest.fixture
def redfish(node):
    """The node's settings for a fence_redfish peer whose machine UUID the
    deploy read (the template's peer_uuid), and a BMC that reports it."""
    (node / "agents/fence_redfish").write_text(FAKE_AGENT)
    (node / "agents/fence_redfish").chmod(0o755)
    (node / "bin/bmc-system-uuid").write_text(FAKE_READER)
    (node / "bin/bmc-system-uuid").chmod(0o755)
    (node / "fence/handler.conf").write_text(jinja2.Template(CONF_TEMPLATE.read_text()).render(
        peer="torchio", agent="fence_redfish", delay=0, agent_time=10, peer_uuid=TORCHIO_UUID))
    (node / "bmc-uuid").write_text(TORCHIO_UUID + "\n")
    return node


def test_a_bmc_that_answers_for_the_peers_machine_passes(redfish):
    assert run(redfish, "check", "--running") == 0
    assert checked(redfish)[1] == "on"
    # The reader had the agent's options on stdin, password and systems_uri included.
    given = (redfish / "reader.stdin").read_text()
    assert f"password={PASSWORD}" in given.splitlines() and "systems_uri=/redfish/v1/Systems/1" in given
    assert PASSWORD not in (redfish / "reader.env").read_text() and PASSWORD not in (redfish / "log").read_text()


def test_a_bmc_that_answers_for_another_machine_fails_the_check_and_names_both(redfish):
    # torchio's settings name fiori's own system (a systems_uri copied from
    # the other node): it is on, as torchio is, and a fence of torchio
    # would power off fiori.
    (redfish / "bmc-uuid").write_text(FIORI_UUID + "\n")
    stderr: list[str] = []
    assert run(redfish, "check", "--running", stderr=stderr) == 1
    assert checked(redfish)[1:] == ["not-peer", "0"]
    log = (redfish / "log").read_text()
    assert "-p daemon.crit" in log and "torchio's BMC settings name another machine: the system " \
        f"/redfish/v1/Systems/1 there has UUID {FIORI_UUID}, and torchio's own is {TORCHIO_UUID}" in log, log
    assert "fix nodes.torchio.bmc (address, options.systems_uri)" in stderr[0]
    from facts.fencing import FenceChecked
    found = FenceChecked().process((redfish / "state/fence-check").read_text().splitlines())
    assert found.result == "not-peer" and not found.proves_fencing
    # Also with the peer off (a first deploy with the peer down accepts
    # off, never another machine).
    (redfish / "power").write_text("off\n")
    assert run(redfish, "check") == 1 and checked(redfish)[1] == "not-peer"


def test_an_unreadable_uuid_is_a_warning_and_the_answer_stands(redfish):
    (redfish / "reader-fails").touch()
    assert run(redfish, "check", "--running") == 0 and checked(redfish)[1] == "on"
    log = (redfish / "log").read_text()
    assert "-p daemon.warning" in log and "could not be read (https://10.0.2.100:443/x: ConnectTimeout" in log, log
    # A BMC that reports no UUID: the same.
    (redfish / "reader-fails").unlink()
    (redfish / "bmc-uuid").write_text("\n")
    assert run(redfish, "check", "--running") == 0 and checked(redfish)[1] == "on"
    assert "reports no UUID for the system it fences" in (redfish / "log").read_text()


def test_nothing_to_compare_without_the_peers_uuid_or_with_another_agent(redfish):
    (redfish / "bmc-uuid").write_text(FIORI_UUID + "\n")
    conf = redfish / "fence/handler.conf"
    conf.write_text(conf.read_text().replace(f"peer_uuid={TORCHIO_UUID}", "peer_uuid="))
    assert run(redfish, "check", "--running") == 0 and not (redfish / "reader.stdin").exists()
    conf.write_text(jinja2.Template(CONF_TEMPLATE.read_text()).render(
        peer="torchio", agent="fence_fake", delay=0, agent_time=10, peer_uuid=TORCHIO_UUID))
    assert run(redfish, "check", "--running") == 0 and not (redfish / "reader.stdin").exists()
    # A failed answer is not asked about either.
    conf.write_text(conf.read_text().replace("agent=fence_fake", "agent=fence_redfish"))
    (redfish / "bmc-down").touch()
    assert run(redfish, "check", "--running") == 1 and checked(redfish)[1] == "failed"
    assert not (redfish / "reader.stdin").exists()
