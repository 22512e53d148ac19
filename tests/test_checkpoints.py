"""The lab's checkpoints (lab/checkpoints.py) are keyed by what built them:
a change to any input makes a new key (the checkpoint is built again), and
a change elsewhere does not (it is reused)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lab"))

import checkpoints  # noqa: E402


@pytest.fixture(autouse=True)
def lab_cache(tmp_path, monkeypatch):
    """A key reads the lab BMC's passwords (made if missing): never the
    user's own cache from a unit test."""
    monkeypatch.setenv("TWONODE_LAB_DIR", str(tmp_path / "lab-cache"))


@pytest.fixture
def tree(tmp_path):
    """A copy of every file any checkpoint reads, plus two it does not."""
    patterns = {p for c in checkpoints.CHECKPOINTS.values() for p in c.inputs}
    for path in checkpoints.input_files(tuple(patterns)) + [ROOT / "README.md", ROOT / "tests/test_model.py"]:
        dest = tmp_path / path.relative_to(ROOT)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, dest)
    return tmp_path


def keys(root):
    return {name: checkpoints.key(name, root) for name in checkpoints.CHECKPOINTS}


def edit(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


def test_a_copy_of_the_tree_has_the_trees_keys(tree):
    assert keys(tree) == keys(ROOT)


def test_a_new_package_rebuilds_provisioned_and_everything_built_on_it(tree):
    before = keys(tree)
    edit(tree / "twonode/packages.py", "\nAREAS['libvirt'] = AREAS['libvirt'] + ['sanlock']\n")
    after = keys(tree)
    assert after["provisioned"] != before["provisioned"]
    assert after["converged-small"] != before["converged-small"]


def test_a_changed_task_or_template_rebuilds_the_converged_cluster_only(tree):
    for changed in ("tasks/drbd.py", "templates/drbd/resource.res.j2", "tests/lab/small/group_data/all.py"):
        before = keys(tree)
        edit(tree / changed, "\n# changed\n")
        after = keys(tree)
        assert after["converged-small"] != before["converged-small"], changed
        assert after["provisioned"] == before["provisioned"], changed


def test_a_changed_lab_recipe_rebuilds_everything(tree):
    before = keys(tree)
    edit(tree / "lab/lab.sh", "\n# changed\n")
    after = keys(tree)
    assert all(after[name] != before[name] for name in before)


def test_files_no_build_reads_change_no_key(tree):
    before = keys(tree)
    edit(tree / "README.md", "\nmore words\n")
    edit(tree / "tests/test_model.py", "\n# changed\n")
    assert keys(tree) == before


def test_a_rebuild_deletes_other_keys_but_keeps_its_own_root_disk(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoints, "cache_dir", lambda: tmp_path)
    current = checkpoints.path_of("provisioned")
    current.mkdir()
    checkpoints.root_disk("provisioned").touch()
    release = checkpoints.lab_release()
    old = [tmp_path / "provisioned-0123456789abcdef",  # named before the release was
           tmp_path / "provisioned-0123456789abcdef.root.qcow2",
           tmp_path / f"provisioned-{release}-0123456789abcdef"]
    old[0].mkdir()
    old[1].touch()
    old[2].mkdir()
    (tmp_path / "converged-small-0123456789abcdef").mkdir()
    # The other release's checkpoint is that release's current one, not stale.
    other = "bookworm" if release == "trixie" else "trixie"
    (tmp_path / f"provisioned-{other}-fedcba9876543210").mkdir()
    assert checkpoints.stale("provisioned") == old


def test_each_release_has_its_own_checkpoints_and_image(tree, monkeypatch):
    def image_key():
        return subprocess.run(["bash", str(tree / "lab/lab.sh"), "image-key"], capture_output=True,
                              text=True, check=True, env={**os.environ, "TWONODE_LAB_DIR": str(tree)}).stdout
    found = {}
    for release in ("bookworm", "trixie"):
        monkeypatch.setenv("TWONODE_LAB_RELEASE", release)
        found[release] = keys(tree), checkpoints.path_of("provisioned").name, image_key()
    (bookworm_keys, bookworm_path, bookworm_image), (trixie_keys, trixie_path, trixie_image) = found.values()
    assert all(bookworm_keys[name] != trixie_keys[name] for name in bookworm_keys)
    assert bookworm_path.startswith("provisioned-bookworm-") and trixie_path.startswith("provisioned-trixie-")
    # Bookworm's one fence-agents package, trixie's per-agent package.
    assert " fence-agents\n" in bookworm_image and " fence-agents-redfish\n" in trixie_image


def test_a_new_package_rebuilds_the_image_with_its_offline_repository(tree):
    """The image carries the offline apt repository of twonode/packages.py:
    lab.sh keys it by that list (and its recipe's version)."""
    def image_key():
        return subprocess.run(["bash", str(tree / "lab/lab.sh"), "image-key"], capture_output=True,
                              text=True, check=True, env={**os.environ, "TWONODE_LAB_DIR": str(tree)}).stdout
    before = image_key()
    assert "fence-agents" in before
    packages = tree / "twonode/packages.py"
    packages.write_text(packages.read_text().replace(
        "\nif __name__", "\nAREAS['libvirt'] = AREAS['libvirt'] + ['sanlock']\n\nif __name__"))
    assert image_key() != before and "sanlock" in image_key()


def test_one_lab_builds_a_missing_checkpoint_while_the_other_waits(tmp_path, monkeypatch):
    import fcntl
    monkeypatch.setenv("TWONODE_LAB_DIR", str(tmp_path))
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; sys.path.insert(0, 'lab'); import checkpoints\n"
         "with checkpoints.one_build_at_a_time():\n    print('held', flush=True); time.sleep(30)"],
        cwd=ROOT, env={**os.environ, "TWONODE_LAB_DIR": str(tmp_path)}, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        release = checkpoints.lab_release()
        with open(tmp_path / "checkpoints" / f"build-{release}.lock", "w") as lock:
            with pytest.raises(BlockingIOError):
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # The other release's labs build theirs meanwhile.
        other = "bookworm" if release == "trixie" else "trixie"
        with open(tmp_path / "checkpoints" / f"build-{other}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        holder.kill()
        holder.wait()


def test_a_build_that_restores_its_parent_does_not_wait_for_itself(tmp_path, monkeypatch):
    import fcntl
    monkeypatch.setenv("TWONODE_LAB_DIR", str(tmp_path))
    release = checkpoints.lab_release()
    other = "bookworm" if release == "trixie" else "trixie"

    def held(name: str) -> bool:
        # Another open file: flock conflicts with it even in this process.
        with open(tmp_path / "checkpoints" / f"build-{name}.lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(lock, fcntl.LOCK_UN)
            return False

    with checkpoints.one_build_at_a_time():
        with checkpoints.one_build_at_a_time():
            assert held(release)
        assert held(release)
        # The other release's lock is its own: taken, not assumed held
        # because this release's is (a provisioned root of the other
        # release built from inside a build).
        assert not held(other)
        with checkpoints.one_build_at_a_time(other):
            assert held(other)
        assert not held(other)
    assert not held(release)


def test_a_new_bmc_password_rebuilds_the_converged_cluster_only(tree, tmp_path, monkeypatch):
    # Its nodes' fence options hold the password: restored beside a BMC
    # with another one, fencing could not log in.
    monkeypatch.setenv("TWONODE_LAB_DIR", str(tmp_path / "cache"))
    passwords = tmp_path / "cache" / "bmc-credentials" / "passwords.toml"
    passwords.parent.mkdir(parents=True)
    passwords.write_text('fiori = "one"\ntorchio = "one"\n')
    before = keys(tree)
    passwords.write_text('fiori = "two"\ntorchio = "two"\n')
    after = keys(tree)
    assert after["converged-small"] != before["converged-small"]
    assert after["provisioned"] == before["provisioned"]


def test_the_key_is_the_same_before_and_after_the_first_bmc_starts(tree, tmp_path, monkeypatch):
    # In CI one lab read converged-small's key before any BMC had made the
    # password, waited while another lab built it under the later key, and
    # then looked for it under its own: it was never there.
    monkeypatch.setenv("TWONODE_LAB_DIR", str(tmp_path / "fresh"))
    first = keys(tree)
    assert (tmp_path / "fresh/bmc-credentials/passwords.toml").exists()
    checkpoints.bmc.credentials(tmp_path / "fresh/bmc-credentials")  # what a BMC's start does
    assert keys(tree) == first


def test_what_a_lab_built_is_restored_even_if_the_tree_changed_meanwhile(tmp_path, monkeypatch):
    # An edit to a task while the build ran gave the restore another key,
    # and it found "no checkpoint" where it had just built one.
    monkeypatch.setenv("TWONODE_LAB_DIR", str(tmp_path))
    restored = []
    monkeypatch.setattr(checkpoints, "path_of", lambda name: tmp_path / "edited-key")
    monkeypatch.setattr(checkpoints, "cached", lambda name: False)
    monkeypatch.setattr(checkpoints, "build", lambda name: tmp_path / "built-key")
    monkeypatch.setattr(checkpoints, "lab_sh", lambda *args, **kw: restored.append(args[1]))
    import dataclasses
    monkeypatch.setitem(checkpoints.CHECKPOINTS, "provisioned",
                        dataclasses.replace(checkpoints.CHECKPOINTS["provisioned"], verify=lambda: []))
    checkpoints.restore("provisioned")
    assert restored == [str(tmp_path / "built-key")]
