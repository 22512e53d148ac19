"""The Prometheus textfile (templates/drbd/metrics.sh) run for real on
outputs captured on the lab: it must say what the DrbdResources fact (and
so tasks/status.py) says of the same /proc/drbd and kernel log, in a file
Prometheus' own text-format parser reads, with names that follow its
conventions."""

import calendar
import subprocess
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from captured import FIX, lines
from facts.drbd import DrbdResources, parse_drbdsetup_show
from facts.sections import split_sections

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "templates/drbd/metrics.sh"
MOUNT_POINTS = {"drbd_small": "/vol/small", "drbd_pub": "/vol/pub", "drbd_vmpool0": "/vol/vmpool0"}


def write_metrics(tmp_path: Path, names: dict[int, str], proc: str, dmesg: str = "", mounts: str = "",
                  verify: str = "", fence_check: str | None = None) -> str:
    inputs = {"proc": proc, "dmesg": dmesg, "mounts": mounts, "verify": verify}
    if fence_check is not None:
        inputs["fence-check"] = fence_check
    for name, text in inputs.items():
        (tmp_path / name).write_text(text)
    # The volumes file the deploy writes, and drbdadm's answer for each minor.
    (tmp_path / "volumes").write_text("# Managed by twonode\n" + "".join(
        f"{res} {MOUNT_POINTS.get(res, '/vol/x')}\n" for _, res in sorted(names.items())))
    (tmp_path / "bin").mkdir(exist_ok=True)
    (tmp_path / "bin/drbdadm").write_text("#!/bin/sh\n[ \"$1\" = sh-minor ] || exit 1\ncase $2 in\n" + "".join(
        f"  {res}) echo {minor} ;;\n" for minor, res in names.items()) + "  *) exit 10 ;;\nesac\n")
    (tmp_path / "bin/drbdadm").chmod(0o755)
    env = {"PATH": f"{tmp_path}/bin:/usr/bin:/bin", "TWONODE_PROC_DRBD": str(tmp_path / "proc"),
           "TWONODE_DMESG": str(tmp_path / "dmesg"), "TWONODE_MOUNTS": str(tmp_path / "mounts"),
           "TWONODE_VERIFY_STATE": str(tmp_path / "verify"), "TWONODE_VOLUMES": str(tmp_path / "volumes"),
           "TWONODE_FENCE_CHECKED": str(tmp_path / "fence-check"), "TWONODE_NOW": "1795872941"}
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    subprocess.run(["sh", str(SCRIPT), str(out)], env=env, check=True, timeout=30)
    assert sorted(p.name for p in out.iterdir()) == ["twonode.prom"], "a temporary file was left"
    return (out / "twonode.prom").read_text()


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample, by name and labels, through Prometheus' own parser."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: dict, name: str, **labels) -> float | None:
    return found.get((name, tuple(sorted(labels.items()))))


def captured_84():
    """(state, node) of every drbd84 capture with /proc/drbd and drbdsetup show."""
    for show in sorted((FIX / "drbd84").glob("*__drbdsetup_show.txt")):
        stem = show.name.removesuffix("__drbdsetup_show.txt")
        if (FIX / "drbd84" / f"{stem}__proc_drbd.txt").exists():
            yield stem


def inputs_84(stem: str) -> tuple[str, str, str]:
    proc = (FIX / "drbd84" / f"{stem}__proc_drbd.txt").read_text()
    show = (FIX / "drbd84" / f"{stem}__drbdsetup_show.txt").read_text()
    dmesg = "".join(p.read_text() for p in sorted((FIX / "drbd84").glob(f"{stem}__dmesg_*.txt")))
    return proc, show, dmesg


def inputs_fact(state: str, node: str) -> tuple[str, str, str]:
    parts = split_sections(lines(f"facts/{state}_{node}__DrbdResources.txt"))
    return tuple("\n".join(parts.get(name, [])) + "\n" for name in ("proc", "show", "dmesg"))


CASES = [("drbd84", stem) for stem in captured_84()] + \
    [("facts", f"{state}:{node}") for state in ("auth-failed", "secret-connected") for node in ("fiori", "torchio")]


@pytest.mark.parametrize("kind,case", CASES, ids=[c for _, c in CASES])
def test_the_textfile_says_what_the_fact_says(tmp_path, kind, case):
    proc, show, dmesg = inputs_84(case) if kind == "drbd84" else inputs_fact(*case.split(":"))
    names = parse_drbdsetup_show(show)
    fact = DrbdResources().process(["@@proc", *proc.splitlines(), "@@json", "@@show", *show.splitlines(),
                                    "@@dmesg", *dmesg.splitlines()])
    found = samples(write_metrics(tmp_path, names, proc, dmesg))
    for minor, res in names.items():
        st = fact.get(res)
        assert value(found, "twonode_drbd_up", resource=res) == (1 if st else 0), res
        if st is None:
            continue
        expected = {
            "twonode_drbd_connected": st.is_connected, "twonode_drbd_primary": st.is_primary,
            "twonode_drbd_disk_up_to_date": st.disk == "UpToDate",
            "twonode_drbd_peer_disk_up_to_date": st.peer_disk == "UpToDate",
            "twonode_drbd_resync_in_progress": st.is_in_resync, "twonode_drbd_io_suspended": st.io_suspended,
            "twonode_drbd_split_brain": st.split_brain, "twonode_drbd_auth_failed": st.auth_failed,
            "twonode_drbd_out_of_sync_bytes": st.out_of_sync_kib * 1024,
        }
        assert {name: value(found, name, resource=res) for name in expected} == \
            {name: float(v) for name, v in expected.items()}, (case, res)
        assert value(found, "twonode_drbd_connection_state", resource=res, state=st.connection) == 1


def test_a_split_brain_and_an_authentication_failure_are_flagged(tmp_path):
    proc, show, dmesg = inputs_84("split_brain_both_standalone_fiori")
    found = samples(write_metrics(tmp_path, parse_drbdsetup_show(show), proc, dmesg))
    assert value(found, "twonode_drbd_split_brain", resource="drbd_small") == 1
    proc, show, dmesg = inputs_fact("auth-failed", "torchio")
    found = samples(write_metrics(tmp_path, parse_drbdsetup_show(show), proc, dmesg))
    assert (value(found, "twonode_drbd_auth_failed", resource="drbd_small"),
            value(found, "twonode_drbd_connected", resource="drbd_small")) == (1, 0)


def test_the_last_verify_and_the_mounts(tmp_path):
    proc = (FIX / "verify/found_fiori__proc_drbd.txt").read_text()
    verify = ("2026-11-20T03:00:00Z fiori drbd_small in-sync 0 Connected,UpToDate/UpToDate\n"
              + (FIX / "verify/found_fiori__verify_results.txt").read_text())
    mounts = "/dev/drbd0 /vol/small ocfs2 rw,relatime,heartbeat=local 0 0\n/dev/vda1 / ext4 rw 0 0\n"
    found = samples(write_metrics(tmp_path, {0: "drbd_small", 1: "drbd_pub"}, proc, mounts=mounts, verify=verify))
    # The newest result counts: 2026-11-28T13:29:33Z, 4 KiB found.
    assert value(found, "twonode_drbd_verify_last_timestamp_seconds", resource="drbd_small") == \
        calendar.timegm(time.strptime("2026-11-28T13:29:33Z", "%Y-%m-%dT%H:%M:%SZ"))
    assert value(found, "twonode_drbd_verify_last_success", resource="drbd_small") == 0
    assert value(found, "twonode_drbd_verify_out_of_sync_bytes", resource="drbd_small") == 4096
    assert value(found, "twonode_drbd_out_of_sync_bytes", resource="drbd_small") == 4096
    # Never verified: no sample, rather than a made-up one.
    assert value(found, "twonode_drbd_verify_last_success", resource="drbd_pub") is None
    assert value(found, "twonode_ocfs2_mounted", resource="drbd_small", mount_point="/vol/small") == 1
    assert value(found, "twonode_ocfs2_mounted", resource="drbd_pub", mount_point="/vol/pub") == 0
    assert value(found, "twonode_metrics_timestamp_seconds") == 1795872941


def test_names_follow_the_prometheus_conventions(tmp_path):
    proc, show, dmesg = inputs_84("connected_primary_primary_fiori")
    text = write_metrics(tmp_path, parse_drbdsetup_show(show), proc, dmesg,
                         verify=(FIX / "verify/found_fiori__verify_results.txt").read_text())
    families = list(text_string_to_metric_families(text))
    assert families and all(f.name.startswith("twonode_") and f.documentation for f in families)
    for f in families:
        for s in f.samples:
            if f.type == "counter":
                # Counters end in _total, and count bytes here.
                assert s.name.endswith("_bytes_total"), s.name
            else:
                assert f.type == "gauge" and not s.name.endswith("_total"), s.name
            # Base units in the name: bytes and seconds, never KiB.
            assert "kib" not in s.name and "_kb" not in s.name
    # A counter in bytes, from 8.4's KiB.
    assert value(samples(text), "twonode_drbd_network_sent_bytes_total", resource="drbd_small") % 1024 == 0


def test_without_the_module_every_resource_is_down(tmp_path):
    found = samples(write_metrics(tmp_path, {0: "drbd_small"}, ""))
    assert value(found, "twonode_drbd_up", resource="drbd_small") == 0
    assert value(found, "twonode_drbd_connected", resource="drbd_small") is None


@pytest.mark.parametrize("field,value,message", [
    ("textfile_directory", "relative/dir", "absolute"),
    ("textfile_directory", "/var/lib/prom etheus", "has a character this tool does not write"),
    ("interval", 5, "greater than or equal to 10"),
])
def test_bad_monitoring_settings_are_refused_before_anything_runs(field, value, message):
    import copy
    import runpy
    from twonode.loader import ClusterConfigError, validate
    raw = copy.deepcopy(runpy.run_path(str(ROOT / "group_data" / "all.py"))["cluster"])
    raw["monitoring"] = {field: value}
    with pytest.raises(ClusterConfigError, match=message):
        validate(raw)


def test_the_fence_check_says_what_the_status_says(tmp_path):
    from facts.fencing import FenceChecked
    from twonode.loader import load_cluster
    from twonode.report import fencing_document
    line = "1796603600 off 1796600000\n"
    found = samples(write_metrics(tmp_path, {0: "drbd_small"}, "", fence_check=line))
    assert (value(found, "twonode_fence_check_ok"), value(found, "twonode_fence_check_timestamp_seconds"),
            value(found, "twonode_fence_check_last_on_timestamp_seconds")) == (0, 1796603600, 1796600000)
    c = load_cluster(ROOT / "tests/lab/small/inventory.py", ROOT)
    doc = fencing_document(c, {"fiori": {"fence_check": FenceChecked().process([line])}, "torchio": None})
    assert doc["fiori"]["result"] == "off" and doc["fiori"]["asked"] == "2026-12-07T00:33:20Z"
    found = samples(write_metrics(tmp_path, {0: "drbd_small"}, "", fence_check="1796603600 on 1796603600\n"))
    assert value(found, "twonode_fence_check_ok") == 1
    # Never asked: no sample, rather than a made-up 0.
    (tmp_path / "fence-check").unlink()
    assert value(samples(write_metrics(tmp_path, {0: "drbd_small"}, "")), "twonode_fence_check_ok") is None
