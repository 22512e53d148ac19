"""Fencing settings: the rules on group_data, the passwords file (outside
the repository, private, complete) and what each node gets."""

import copy
import os

import pytest
from twonode import fencing
from twonode.loader import ClusterConfigError, validate
from twonode.model.nodes import Bmc
from twonode.paths import REPOSITORY

ROOT = REPOSITORY


def example():
    import runpy
    return copy.deepcopy(runpy.run_path(str(ROOT / "group_data/all.py"))["cluster"])


def errors(raw) -> str:
    with pytest.raises(ClusterConfigError) as info:
        validate(raw)
    return str(info.value)


def test_the_example_fences_by_power_with_a_bmc_per_node():
    c = validate(example())
    assert c.fences and all(n.bmc.agent == "fence_redfish" for n in c.nodes)


def test_no_fencing_setting_is_refused_with_both_ways_out():
    raw = example()
    del raw["fencing"]
    text = errors(raw)
    assert "fencing = {'mode': 'power'}" in text and "fencing = {'mode': 'none'}" in text


def test_none_is_accepted_when_said():
    raw = example()
    raw["fencing"] = {"mode": "none"}
    for node in raw["nodes"]:
        del node["bmc"]
    assert not validate(raw).fences


def test_power_needs_every_bmc():
    raw = example()
    del raw["nodes"][1]["bmc"]
    assert "needs torchio's BMC" in errors(raw)


@pytest.mark.parametrize("agent, lanplus, refused", [
    ("fence_ipmilan", None, True), ("fence_ipmilan", "0", True), ("fence_idrac", None, True),
    ("fence_ipmilan", "1", False), ("fence_ilo4", None, False), ("fence_redfish", None, False),
])
def test_ipmi_without_lanplus_is_refused_with_the_fix(agent, lanplus, refused):
    raw = example()
    bmc = raw["nodes"][0]["bmc"]
    bmc["agent"], bmc["port"] = agent, 623
    bmc["options"] = {} if lanplus is None else {"lanplus": lanplus}
    del bmc["ca_file"]  # a certificate is for fence_redfish's TLS
    if agent == "fence_redfish":
        bmc["options"]["systems_uri"] = "/redfish/v1/Systems/1"
    if refused:
        text = errors(raw)
        assert "nodes.0.bmc" in text and '"lanplus": "1"' in text and "fence_redfish" in text, text
    else:
        validate(raw)


@pytest.mark.parametrize("option, value, expected", [
    ("password", "x", "is set by twonode"),
    ("action", "on", "is set by twonode"),
    ("ssl-insecure", "1", "lower-case letters, digits and '_'"),
    ("systems_uri", "/a b", "holds characters"),
    ("systems_uri", "/x\nip=evil", "holds characters"),
])
def test_agent_options_are_strict(option, value, expected):
    raw = example()
    raw["nodes"][0]["bmc"]["options"] = {option: value}
    assert expected in errors(raw)


def test_twonodes_own_handlers_are_not_overridden():
    raw = example()
    raw["drbd"] = {"handlers": {"fence-peer": "/bin/true"}}
    assert "the fence-peer handler is twonode's own" in errors(raw)


@pytest.fixture
def cluster():
    return validate(example())


def write(path, text, mode=0o600):
    path.write_text(text)
    path.chmod(mode)
    return path


def passwords(cluster, path, monkeypatch):
    monkeypatch.setenv(fencing.PASSWORDS_ENV, str(path))
    return fencing.read_passwords(cluster)


def test_passwords_are_read(cluster, tmp_path, monkeypatch):
    path = write(tmp_path / "p.toml", 'fiori = "s3cr=t"\ntorchio = "other"\n')
    assert passwords(cluster, path, monkeypatch) == {"fiori": "s3cr=t", "torchio": "other"}


@pytest.mark.parametrize("text, mode, expected", [
    (None, 0o600, "no BMC passwords file at"),
    ('fiori = "a"\ntorchio = "b"\n', 0o644, "can be read by others: chmod 600"),
    ('fiori = "a"\n', 0o600, "has no password for torchio"),
    ('fiori = a\n', 0o600, "is not TOML"),
    ('fiori = " a"\ntorchio = "b"\n', 0o600, "starts or ends with a space"),
    ('fiori = "a\\nip=x"\ntorchio = "b"\n', 0o600, "line break"),
])
def test_bad_passwords_files_are_refused_without_showing_a_password(cluster, tmp_path, monkeypatch, text,
                                                                    mode, expected):
    path = tmp_path / "p.toml"
    if text is not None:
        write(path, text, mode)
    with pytest.raises(fencing.FencingError) as info:
        passwords(cluster, path, monkeypatch)
    assert expected in str(info.value)
    assert '"a"' not in str(info.value) and "ip=x" not in str(info.value)


def test_a_passwords_file_in_the_repository_is_refused(cluster, monkeypatch):
    path = ROOT / "tests" / "fixtures" / ".passwords-test.toml"
    try:
        write(path, 'fiori = "a"\ntorchio = "b"\n')
        with pytest.raises(fencing.FencingError, match="inside the repository"):
            passwords(cluster, path, monkeypatch)
    finally:
        path.unlink(missing_ok=True)


def test_agent_options_for_the_peer(cluster):
    text = fencing.agent_options(cluster.nodes[1].bmc, "pw")
    assert text.splitlines() == ["ip=10.0.2.100", "ipport=443", "username=twonode-lab", "password=pw",
                                 "systems_uri=/redfish/v1/Systems/torchio"]


def test_first_node_fences_at_once_the_other_waits(cluster):
    assert fencing.race_delay(cluster, "fiori") == 0
    assert fencing.race_delay(cluster, "torchio") == cluster.fencing.race_delay == 20


def test_the_lab_inventory_names_the_lab_bmc_passwords(monkeypatch):
    monkeypatch.delenv(fencing.PASSWORDS_ENV, raising=False)
    monkeypatch.delenv("TWONODE_LAB_INSTANCE", raising=False)
    from twonode.lab import lab_dir, lab_hosts
    lab_hosts(str(ROOT / "lab" / "inventory.py"))
    assert os.environ[fencing.PASSWORDS_ENV] == str(lab_dir() / "bmc-credentials" / "passwords.toml")


@pytest.mark.parametrize("instance, ports", [("b", (2421, 2422)), ("c", (2621, 2622)), ("d", (2821, 2822))])
def test_the_other_labs_have_their_own_bmc_and_ports_and_share_the_password(monkeypatch, instance, ports):
    monkeypatch.delenv(fencing.PASSWORDS_ENV, raising=False)
    monkeypatch.delenv("TWONODE_LAB_PORT", raising=False)
    monkeypatch.setenv("TWONODE_LAB_INSTANCE", instance)
    from twonode.lab import bmc_dir, lab_dir, lab_hosts
    hosts = dict(lab_hosts(str(ROOT / "lab" / "inventory.py")))
    # A checkpoint made in one lab holds the password in its nodes' fence
    # options, and is restored in the others.
    assert os.environ[fencing.PASSWORDS_ENV] == str(lab_dir() / "bmc-credentials" / "passwords.toml")
    assert bmc_dir() == lab_dir() / f"bmc-{instance}"
    assert (hosts["fiori"]["ssh_port"], hosts["torchio"]["ssh_port"]) == ports


def test_an_unknown_lab_instance_is_refused(monkeypatch):
    monkeypatch.setenv("TWONODE_LAB_INSTANCE", "e")
    from twonode.lab import lab_hosts
    with pytest.raises(SystemExit, match="empty .*, b, c or d"):
        lab_hosts(str(ROOT / "lab" / "inventory.py"))


@pytest.mark.parametrize("instance", ["", "b", "c", "d"])
def test_lab_sh_and_the_inventory_agree_on_each_labs_ports(monkeypatch, instance):
    import subprocess
    monkeypatch.delenv("TWONODE_LAB_PORT", raising=False)
    monkeypatch.setenv("TWONODE_LAB_INSTANCE", instance)
    from twonode.lab import NODE_INDEX, port_base
    for node, index in NODE_INDEX.items():
        shown = subprocess.run([str(ROOT / "lab" / "lab.sh"), "port", node], capture_output=True, text=True,
                               check=True).stdout
        assert int(shown) == port_base() + index


def test_the_lab_gives_slow_guests_longer_ssh_waits_than_pyinfras(monkeypatch):
    # A test_1 lab's guests get a sixth of a core while the other labs are
    # busy; pyinfra's 10 s for the key exchange failed them (docs/testing.md, "Four
    # labs"). Every key is one pyinfra's SSH connector reads and hands on.
    import inspect

    import paramiko
    from pyinfra.api.config import Config
    from pyinfra.connectors.ssh import connector_data_meta

    from twonode.lab import lab_hosts
    monkeypatch.setenv("TWONODE_LAB_INSTANCE", "b")
    for _name, data in lab_hosts(str(ROOT / "lab" / "inventory.py")):
        assert set(data) <= set(connector_data_meta) | {"node_name"}
        waits = data["ssh_paramiko_connect_kwargs"]
        assert set(waits) <= set(inspect.signature(paramiko.SSHClient.connect).parameters)
        assert min(waits.values()) > 10 * Config().CONNECT_TIMEOUT


@pytest.mark.parametrize("options", [{}, {"ssl_insecure": "1"}, {"systems_uri": ""}])
def test_redfish_without_the_peers_system_is_refused_with_the_fix(options):
    raw = example()
    raw["nodes"][1]["bmc"]["options"] = options
    raw["nodes"][1]["bmc"]["accept_unverified_tls"] = True
    del raw["nodes"][1]["bmc"]["ca_file"]
    text = errors(raw)
    assert "nodes.1.bmc" in text and '"systems_uri"' in text and "/redfish/v1/Systems" in text, text


@pytest.mark.parametrize("value", ["1", "true"])
def test_an_unverified_bmc_certificate_must_be_accepted_knowingly(value):
    raw = example()
    bmc = raw["nodes"][1]["bmc"]
    bmc["options"]["ssl_insecure"] = value
    del bmc["ca_file"]
    text = errors(raw)
    assert "nodes.1.bmc" in text and "gets the BMC password" in text and '"accept_unverified_tls": true' in text
    bmc["accept_unverified_tls"] = True
    assert not validate(raw).nodes[1].bmc.verifies_tls
    # A verified certificate needs no word at all.
    del bmc["options"]["ssl_insecure"], bmc["accept_unverified_tls"]
    assert validate(raw).nodes[1].bmc.verifies_tls
    # The lab's own BMC: its certificate pinned.
    assert validate(example()).nodes[1].bmc.ca_file


def test_a_pinned_certificate_is_for_fence_redfish_with_its_check_on():
    raw = example()
    bmc = raw["nodes"][1]["bmc"]
    bmc["ca_file"] = "~/site/torchio-bmc.pem"
    assert validate(raw).nodes[1].bmc.ca_file == "~/site/torchio-bmc.pem"
    bmc["options"]["ssl_insecure"], bmc["accept_unverified_tls"] = "1", True
    text = errors(raw)
    assert "nodes.1.bmc" in text and "remove ssl_insecure" in text, text
    del bmc["options"]["ssl_insecure"], bmc["accept_unverified_tls"]
    bmc.update(agent="fence_ipmilan", options={"lanplus": "1"}, port=623)
    text = errors(raw)
    assert "nodes.1.bmc" in text and "fence_ipmilan does not use it: remove ca_file" in text, text


CERT = ("-----BEGIN CERTIFICATE-----\n" + "MIIB" + "A" * 60 + "\n" + "B" * 64 + "==\n"
        "-----END CERTIFICATE-----\n")


def test_the_pinned_certificate_is_read_as_pem_certificates_only(tmp_path):
    from twonode.fencing import FencingError, ca_digest, read_ca
    path = tmp_path / "bmc.pem"
    bmc = Bmc(address="10.0.0.9", username="fence", options={"systems_uri": "/redfish/v1/Systems/1"},
              ca_file=str(path))
    with pytest.raises(FencingError, match=r"nodes\.torchio\.bmc\.ca_file .* cannot be read"):
        read_ca(bmc, "torchio")
    # Two certificates (a chain), with CRLF line ends and blank lines: normalised.
    path.write_text(("\r\n" + CERT.replace("\n", "\r\n")) * 2)
    assert read_ca(bmc, "torchio") == CERT * 2
    assert ca_digest(CERT) != ca_digest(CERT * 2) and ca_digest("") == ""
    # A private key beside it would be shipped to the peer: refused.
    for other in ("-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n", "not a certificate\n"):
        path.write_text(CERT + other)
        with pytest.raises(FencingError, match="holds something else than PEM certificates"):
            read_ca(bmc, "torchio")
    assert read_ca(bmc.model_copy(update={"ca_file": None}), "torchio") == ""


FIORI_UUID = "8bb135ae-5331-516a-94a8-ec29cc38eb28"
TORCHIO_UUID = "2c503f9d-2867-5ddf-a1df-172d2062c13f"


def test_the_peers_uuid_is_the_one_read_on_it_or_else_the_one_recorded():
    # Read on the peer in this run: that one, whatever was recorded.
    recorded = ("agent=fence_redfish", f"peer_uuid={FIORI_UUID}")
    assert fencing.peer_uuid(mine=FIORI_UUID, peers=TORCHIO_UUID, recorded=recorded) == TORCHIO_UUID
    # The peer not read (down, left out): what the settings in place recorded,
    # so that its absence does not erase it (nor change the settings).
    recorded = ("agent=fence_redfish", f"peer_uuid={TORCHIO_UUID}")
    assert fencing.peer_uuid(mine=FIORI_UUID, peers=None, recorded=recorded) == TORCHIO_UUID
    assert fencing.peer_uuid(mine=FIORI_UUID, peers=None, recorded=None) == ""
    assert fencing.peer_uuid(mine=FIORI_UUID, peers=None, recorded=("peer_uuid=",)) == ""
    assert fencing.peer_uuid(mine=FIORI_UUID, peers=None, recorded=("peer_uuid=$(reboot)",)) == ""


def test_two_machines_with_one_uuid_or_none_give_nothing_to_compare():
    assert fencing.peer_uuid(mine=TORCHIO_UUID, peers=TORCHIO_UUID, recorded=None) == ""
    assert fencing.peer_uuid(mine=FIORI_UUID, peers="", recorded=(f"peer_uuid={TORCHIO_UUID}",)) == ""


def test_the_status_says_when_the_bmc_answers_for_another_machine():
    from facts.fencing import FenceCheck
    from twonode.report import render_fencing
    c = validate(example())
    seen = {"fiori": {"fence_check": FenceCheck(1796600000, "not-peer", 0)},
            "torchio": {"fence_check": FenceCheck(1796600000, "on", 1796600000)}}
    text = render_fencing(c, seen)
    assert "fiori -> torchio's BMC (fence_redfish, TLS verified against its ca_file): answers for ANOTHER " \
        "MACHINE (not torchio's UUID) at 2026-12-06T" in text, text
    assert "torchio -> fiori's BMC (fence_redfish, TLS verified against its ca_file): answers, fiori on" in text
