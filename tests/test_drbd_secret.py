"""The replication links' shared secret: read from outside the repository
(environment or a private file), refused with a clear message that never
shows it, written into the resource file, and never in what a fact reads
back from that file."""

import copy
import re
import os
import runpy
import subprocess
from pathlib import Path

import jinja2
import pytest

from facts.path_states import PathStates
from twonode import drbd_secret
from twonode.drbd_secret import DrbdSecretError, read_shared_secret
from twonode.loader import ClusterConfigError, validate
from twonode.paths import REPOSITORY, lv_path

EXAMPLE = runpy.run_path(str(REPOSITORY / "group_data" / "all.py"))["cluster"]
SECRET = "Q2l0eS1vZi1Ud29ub2RlLXRlc3Qtc2VjcmV0"


@pytest.fixture
def cluster(monkeypatch):
    for name in (drbd_secret.SECRET_ENV, drbd_secret.SECRET_FILE_ENV):
        monkeypatch.delenv(name, raising=False)
    return validate(EXAMPLE)


def private(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_from_the_environment(cluster, monkeypatch):
    monkeypatch.setenv(drbd_secret.SECRET_ENV, SECRET)
    assert read_shared_secret(cluster) == SECRET


def test_from_the_file_the_environment_names(cluster, monkeypatch, tmp_path):
    monkeypatch.setenv(drbd_secret.SECRET_FILE_ENV, str(private(tmp_path / "s", f"{SECRET}\n")))
    assert read_shared_secret(cluster) == SECRET


def test_from_the_file_group_data_names(monkeypatch, tmp_path):
    for name in (drbd_secret.SECRET_ENV, drbd_secret.SECRET_FILE_ENV):
        monkeypatch.delenv(name, raising=False)
    raw = copy.deepcopy(EXAMPLE)
    raw.setdefault("drbd", {})["shared_secret_file"] = str(private(tmp_path / "drbd-secret", f"{SECRET}\n"))
    assert read_shared_secret(validate(raw)) == SECRET


@pytest.mark.parametrize("text,mode,message", [
    (None, 0o600, "no DRBD shared secret file at"),
    (f"{SECRET}\n", 0o640, "can be read by others: chmod 600"),
    (f"{SECRET}\nsecond line\n", 0o600, "one line (it has 2 lines)"),
    ("too-short\n", 0o600, "not 16 to 64 characters"),
    ('with "quotes" and spaces in it\n', 0o600, "not 16 to 64 characters"),
    ("x" * 65 + "\n", 0o600, "not 16 to 64 characters"),
])
def test_refusals_say_what_to_fix_and_never_show_the_value(cluster, monkeypatch, tmp_path, text, mode, message):
    path = tmp_path / "drbd-secret"
    if text is not None:
        private(path, text, mode)
    monkeypatch.setenv(drbd_secret.SECRET_FILE_ENV, str(path))
    with pytest.raises(DrbdSecretError, match=re.escape(message)) as error:
        read_shared_secret(cluster)
    if text is not None:
        assert text.strip().splitlines()[0] not in str(error.value)


def test_a_file_inside_the_repository_is_refused(cluster, monkeypatch):
    path = REPOSITORY / "tests" / ".drbd-secret-test"
    try:
        private(path, f"{SECRET}\n")
        monkeypatch.setenv(drbd_secret.SECRET_FILE_ENV, str(path))
        with pytest.raises(DrbdSecretError, match="inside the repository"):
            read_shared_secret(cluster)
    finally:
        path.unlink(missing_ok=True)


def test_a_bad_secret_in_the_environment_is_refused_without_showing_it(cluster, monkeypatch):
    monkeypatch.setenv(drbd_secret.SECRET_ENV, "short")
    with pytest.raises(DrbdSecretError, match=r"\$TWONODE_DRBD_SECRET is not 16 to 64") as error:
        read_shared_secret(cluster)
    assert "short" not in str(error.value).replace("TWONODE", "")


def rendered_resource(secret: str) -> str:
    c = validate(EXAMPLE)
    vol = c.replicated_volumes[0]
    template = jinja2.Environment().from_string((REPOSITORY / "templates/drbd/resource.res.j2").read_text())
    return template.render(vol=vol, drbd=c.drbd, nodes=c.nodes, disk=lv_path(c.volume_group, vol.name),
                           fencing=True, fence_peer="/x", drbd_event="/y", shared_secret=secret)


def test_the_resource_file_authenticates_the_link_and_names_the_verify_digest():
    text = rendered_resource(SECRET)
    assert "    cram-hmac-alg sha256;\n" in text and f'    shared-secret "{SECRET}";\n' in text
    assert "    verify-alg sha256;\n" in text


def test_what_the_path_fact_reads_of_the_resource_file_has_the_secret_masked(tmp_path):
    path = tmp_path / "drbd_small.res"
    path.write_text(rendered_resource(SECRET))
    fact = PathStates()
    out = subprocess.run(["sh", "-c", fact.command((str(path),))], capture_output=True, text=True, check=True).stdout
    state = fact.process(out.splitlines())[str(path)]
    assert SECRET not in out
    assert '    shared-secret "(hidden)";' in state.lines
    # The digest is the real file's: the deploy still sees it current.
    import hashlib
    assert state.sha1 == hashlib.sha1(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("field,value,message", [
    ("verify_schedule", "weekly; rm -rf /", "should match pattern"),
    ("verify_alg", "sha3", "Input should be"),
    ("cram_hmac_alg", "md4", "Input should be"),
    ("shared_secret_file", "~/my secret", "should match pattern"),
])
def test_bad_settings_are_refused_before_anything_runs(field, value, message):
    raw = copy.deepcopy(EXAMPLE)
    raw.setdefault("drbd", {})[field] = value
    with pytest.raises(ClusterConfigError, match=message):
        validate(raw)


def test_no_schedule_means_no_timer_but_still_a_digest():
    raw = copy.deepcopy(EXAMPLE)
    raw.setdefault("drbd", {})["verify_schedule"] = None
    c = validate(raw)
    assert c.drbd.verify_schedule is None and c.drbd.verify_alg == "sha256"


def test_the_lab_secret_file_is_private_and_outside_the_repository(monkeypatch, tmp_path):
    from twonode import lab
    monkeypatch.setenv("TWONODE_LAB_DIR", str(tmp_path / "lab"))
    path = lab.drbd_secret_file()
    assert oct(path.stat().st_mode & 0o777) == "0o600" and not path.resolve().is_relative_to(REPOSITORY)
    monkeypatch.setenv(drbd_secret.SECRET_FILE_ENV, str(path))
    assert read_shared_secret(validate(EXAMPLE)) == lab.LAB_SECRET
    assert os.environ[drbd_secret.SECRET_FILE_ENV] == str(path)


def test_a_secret_is_uploaded_into_a_root_only_directory_and_made_0600_before_it_moves():
    # The upload gets the SSH server's default mode: it must land where
    # only root can read, never beside its destination in /etc/drbd.d.
    from pyinfra.api import FileUploadCommand

    from twonode import ops, paths
    dest = "/etc/drbd.d/drbd_small.res.twonode-new"
    commands = list(ops._upload_secret._inner(path=dest, content="shared-secret \"x\";\n"))
    make_dir, upload, move = commands
    assert make_dir == f"install -d -m 700 {paths.SECRET_STAGING}"
    assert isinstance(upload, FileUploadCommand)
    assert upload.dest.startswith(paths.SECRET_STAGING + "/") and upload.remote_temp_filename == upload.dest
    assert upload.src.read() == b"shared-secret \"x\";\n"
    assert move == f"chmod 600 {upload.dest} && mv -f {upload.dest} {dest}"
