"""Live migration trust (twonode/migration.py): only an ed25519 public key
is ever authorized, only from the peer's cluster address, and a peer's new
key replaces its old line."""

import re
import subprocess

import pytest

from twonode import migration

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBvJ0Y9wq3k3n0Qm2G4xYzV1mKq7ZrPpX1b0fXo6d0Yh"


def test_the_comment_of_a_key_file_is_dropped():
    assert migration.public_key(KEY + " twonode-migration@torchio\n", "f") == KEY


@pytest.mark.parametrize("text", [
    "", "\n", "-----BEGIN OPENSSH PRIVATE KEY-----", "ssh-rsa AAAAB3NzaC1yc2E",
    "ssh-ed25519", "x" + KEY,
    'command="rm -rf /" ' + KEY, KEY.replace("AAAA", "AA$(x)"),
])
def test_anything_but_an_ed25519_public_key_is_refused(text):
    with pytest.raises(migration.NotAPublicKey, match="torchio:/root"):
        migration.public_key(text, "torchio:/root/.ssh/twonode-migration.pub")


def test_the_peer_is_trusted_from_its_cluster_address_only_to_reach_libvirt_and_without_forwarding():
    line = migration.authorized_line("torchio", "192.168.3.7", KEY)
    assert line == (f'from="192.168.3.7",restrict,command="/usr/bin/virt-ssh-helper qemu:///system" {KEY} '
                    'twonode-migration@torchio')


def test_a_new_key_of_the_peer_replaces_its_line_and_nothing_else(tmp_path):
    keys = tmp_path / "authorized_keys"
    old = migration.authorized_line("torchio", "192.168.3.7", KEY.replace("Yh", "Zz"))
    keys.write_text(f"ssh-ed25519 AAAAother admin@laptop\n{old}\nssh-ed25519 AAAAx twonode-migration@torchio2\n")
    regex = migration.authorized_regex("torchio")
    # twonode.ops.line hands the regex to grep -E / sed -E: check it there.
    out = subprocess.run(["grep", "-E", regex, str(keys)], capture_output=True, text=True).stdout
    assert out.splitlines() == [old]
    assert [l for l in keys.read_text().splitlines() if re.search(regex, l)] == [old]


def test_the_pinned_host_key_names_the_cluster_name_and_address():
    assert migration.known_hosts_line("torchio", "-cluster", "192.168.3.7", KEY) == \
        f"torchio-cluster,192.168.3.7 {KEY}"
    regex = migration.known_hosts_regex("torchio", "-cluster", "192.168.3.7")
    assert re.search(regex, f"torchio-cluster,192.168.3.7 {KEY}")
    assert not re.search(regex, f"torchio-cluster,192.168.3.70 {KEY}")
    assert not re.search(regex, f"xtorchio-cluster,192.168.3.7 {KEY}")


def test_migrations_are_announced_and_listened_for_on_the_cluster_address():
    assert migration.qemu_conf_settings("192.168.3.6") == {
        "migration_host": '"192.168.3.6"', "migration_address": '"192.168.3.6"'}
