"""grader.course.collect: submissions (zips or directories) into ``submitted/<student>/convnets/``.

Every submission is untrusted. Each hostile one is collected in the same call as two honest
ones (``alice`` before it, ``carol`` after it), and the test checks all three promises at once:
the hostile one is rejected with a message naming the rule, nothing of it is written (no
``submitted/<id>``, no scratch directory left in the course, no file escaping anywhere under
the test's directory), and the honest ones are still taken.
"""

from __future__ import annotations

import io
import os
import stat
import struct
import zipfile
from pathlib import Path

import pytest

from grader.course import collect as collect_mod
from grader.course.collect import collect, collect_one, student_id_for
from grader.course.release import ASSIGNMENT, CoursePaths

REGULAR = (stat.S_IFREG | 0o644) << 16
NOTEBOOK = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}\n'
#: What an honest student hands in, wrapped the way a "compress folder" tool wraps it.
HONEST = {
    "{who}/convnets/00_history.ipynb": NOTEBOOK,
    "{who}/convnets/03_parameter_sharing.ipynb": NOTEBOOK,
    "{who}/convnets/cs231n_lib/__init__.py": b"",
    "{who}/convnets/cs231n_lib/conv_naive.py": b"def conv_forward_naive(x, w, b, p):\n    pass\n",
}


def entry(name: str, mode: int = REGULAR, compress: int = zipfile.ZIP_DEFLATED) -> zipfile.ZipInfo:
    """A ZipInfo kept exactly as named (``writestr(str)`` and ``write`` would normalise it)."""
    info = zipfile.ZipInfo(name, date_time=(2024, 5, 1, 12, 0, 0))
    info.external_attr = mode
    info.compress_type = compress
    info.create_system = 3  # Unix: the mode in external_attr means what it says
    return info


def make_zip(path: Path, entries: dict[str | zipfile.ZipInfo, bytes] | list) -> Path:
    items = entries.items() if isinstance(entries, dict) else entries
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in items:
            zf.writestr(name if isinstance(name, zipfile.ZipInfo) else entry(name), data)
    return path


def honest_zip(folder: Path, who: str) -> Path:
    return make_zip(folder / f"{who}.zip",
                    {k.format(who=who): v for k, v in HONEST.items()})


def honest_dir(folder: Path, who: str) -> Path:
    for name, data in HONEST.items():
        path = folder / name.format(who=who)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return folder / who


@pytest.fixture
def course(tmp_path: Path) -> CoursePaths:
    """A course whose release holds the files of HONEST (what a submission may contain)."""
    root = tmp_path / "course"
    root.mkdir()
    paths = CoursePaths(root)
    repo = Path(__file__).resolve().parents[1]
    names = [p.name for p in (repo / "notebooks").glob("[0-9][0-9]_*.ipynb")]
    names += [f"cs231n_lib/{p.name}" for p in (repo / "cs231n_lib").glob("*.py")]
    for name in names:
        target = paths.release / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"")
    return paths


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


def landed(paths: CoursePaths, who: str) -> Path:
    return paths.submitted / who / ASSIGNMENT


def assert_honest_taken(paths: CoursePaths, who: str) -> None:
    dest = landed(paths, who)
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()) == [
        "00_history.ipynb",
        "03_parameter_sharing.ipynb",
        "cs231n_lib/__init__.py",
        "cs231n_lib/conv_naive.py",
        "timestamp.txt",
    ]
    assert (dest / "00_history.ipynb").read_bytes() == NOTEBOOK


def assert_clean_course(paths: CoursePaths, taken: set[str]) -> None:
    """Only the taken students exist, and no scratch directory is left behind."""
    assert {p.name for p in paths.root.iterdir()} <= {"submitted", "release"}
    if paths.submitted.exists():
        assert {p.name for p in paths.submitted.iterdir()} == taken


def collect_between_honest(paths: CoursePaths, inbox: Path, hostile: Path):
    """Collect ``[alice, hostile, carol]``; both honest ones must be taken. → hostile's result."""
    sources = [honest_zip(inbox, "alice"), hostile, honest_dir(inbox / "dirs", "carol")]
    results = collect(paths, sources)
    assert [r.source for r in results] == sources
    alice, bad, carol = results
    assert alice.ok and alice.student == "alice" and alice.files == 4, alice
    assert carol.ok and carol.student == "carol" and carol.files == 4, carol
    assert_honest_taken(paths, "alice")
    assert_honest_taken(paths, "carol")
    assert not bad.ok and bad.files == 0
    return bad


# --------------------------------------------------------------------------- the honest path


def test_wrapper_folders_are_stripped_and_library_lands_beside_the_notebooks(course, inbox):
    results = collect(course, [honest_zip(inbox, "alice")])
    assert [(r.student, r.ok, r.files) for r in results] == [("alice", True, 4)]
    assert_honest_taken(course, "alice")
    assert (landed(course, "alice") / "cs231n_lib").is_dir()
    assert_clean_course(course, {"alice"})


@pytest.mark.parametrize("prefix", ["", "convnets/", "alice/convnets/", "alice/", "My Work/x/"])
def test_any_single_wrapper_chain_is_stripped(course, inbox, prefix):
    make_zip(inbox / "alice.zip", {f"{prefix}00_history.ipynb": NOTEBOOK,
                                   f"{prefix}cs231n_lib/layers.py": b"x = 1\n"})
    assert collect_one(course, inbox / "alice.zip").ok
    dest = landed(course, "alice")
    assert (dest / "00_history.ipynb").read_bytes() == NOTEBOOK
    assert (dest / "cs231n_lib" / "layers.py").read_text() == "x = 1\n"


def test_directory_submission_with_wrappers_is_stripped(course, inbox):
    result = collect_one(course, honest_dir(inbox, "alice"))
    assert result.ok and result.files == 4
    assert_honest_taken(course, "alice")


@pytest.mark.slow  # importing nbgrader costs ~3.5 s on its own
def test_timestamp_is_written_and_nbgrader_can_read_it(course, inbox):
    from nbgrader.utils import parse_utc  # what nbgrader's own collect/autograde read it with

    collect(course, [honest_zip(inbox, "alice")])
    text = (landed(course, "alice") / "timestamp.txt").read_text()
    stamp = parse_utc(text)
    import datetime as dt

    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert abs((now - stamp.replace(tzinfo=None)).total_seconds()) < 60, text


def test_recollecting_replaces_the_previous_submission(course, inbox):
    collect(course, [honest_zip(inbox, "alice")])
    again = inbox / "again"
    again.mkdir()
    make_zip(again / "alice.zip", {"00_history.ipynb": b"{}\n"})
    [result] = collect(course, [again / "alice.zip"])
    assert result.ok
    dest = landed(course, "alice")
    assert sorted(p.name for p in dest.iterdir()) == ["00_history.ipynb", "timestamp.txt"]
    assert (dest / "00_history.ipynb").read_bytes() == b"{}\n"
    assert_clean_course(course, {"alice"})


def test_a_rejected_recollection_keeps_the_previous_submission(course, inbox):
    collect(course, [honest_zip(inbox, "alice")])
    before = (landed(course, "alice") / "timestamp.txt").read_text()
    bad = inbox / "bad"
    bad.mkdir()
    make_zip(bad / "alice.zip", {"00_history.ipynb": b"{}", "../evil.py": b"x"})
    [result] = collect(course, [bad / "alice.zip"])
    assert not result.ok and "traversal" in result.error
    assert_honest_taken(course, "alice")
    assert (landed(course, "alice") / "timestamp.txt").read_text() == before


def test_two_sources_for_one_student_take_the_first_and_name_it(course, inbox):
    first = honest_zip(inbox, "alice")
    second = inbox / "dirs" / "alice"
    second.mkdir(parents=True)
    (second / "00_history.ipynb").write_bytes(b"{}")
    results = collect(course, [first, second])
    assert [r.ok for r in results] == [True, False]
    assert results[1].student == "alice"
    assert "second submission" in results[1].error and "alice.zip" in results[1].error
    assert_honest_taken(course, "alice")  # the first one, untouched by the second


# --------------------------------------------------------------------------- hostile zips


def _deflated_bomb(path: Path, real: int, declared: int) -> Path:
    """A zip whose single entry inflates to ``real`` bytes but declares ``declared``
    (in the local header and the central directory alike)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(entry("00_history.ipynb"), b"\0" * real)
    data = bytearray(buf.getvalue())
    assert data[:4] == b"PK\x03\x04"
    struct.pack_into("<I", data, 22, declared)  # local header: uncompressed size
    central = data.find(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, declared)  # central directory: same field
    path.write_bytes(bytes(data))
    assert zipfile.ZipFile(path).infolist()[0].file_size == declared
    return path


HOSTILE_ZIPS = {
    # id: (entries, {limit: value}, words the message must contain)
    "path-traversal": ({"00_history.ipynb": NOTEBOOK, "../evil.py": b"import os"},
                       {}, ["../evil.py", "traversal"]),
    "deep-traversal": ({"00_history.ipynb": NOTEBOOK, "cs231n_lib/../../../evil.py": b"x"},
                       {}, ["evil.py", "traversal"]),
    "backslash-traversal": ({"00_history.ipynb": NOTEBOOK, "..\\evil.py": b"x"},
                            {}, ["evil.py", "traversal"]),
    "windows-drive": ({"00_history.ipynb": NOTEBOOK, "C:/evil.py": b"x"},
                      {}, ["evil.py", "absolute"]),
    "symlink": ([(entry("cs231n_lib/conv_naive.py", (stat.S_IFLNK | 0o777) << 16),
                  b"/etc/passwd"), ("00_history.ipynb", NOTEBOOK)],
                {}, ["conv_naive.py", "symlink"]),
    "device": ([(entry("00_history.ipynb"), NOTEBOOK),
                (entry("dev_evil", (stat.S_IFCHR | 0o666) << 16), b"")],
               {}, ["dev_evil", "regular file"]),
    "file-over-limit": ({"00_history.ipynb": NOTEBOOK, "cs231n_lib/big.py": b"#" * 4097},
                        {"MAX_FILE_BYTES": 4096}, ["big.py", "4097", "4096", "limit"]),
    "too-many-files": ({f"cs231n_lib/m{i}.py": b"" for i in range(6)},
                       {"MAX_FILES": 5}, ["more than 5 files"]),
    "too-many-bytes": ({f"cs231n_lib/m{i}.py": b"#" * 3000 for i in range(4)},
                       {"MAX_TOTAL_BYTES": 10_000}, ["more than 10000 bytes"]),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_ZIPS))
def test_hostile_zip_is_rejected_and_nothing_of_it_is_written(
    course, inbox, tmp_path, monkeypatch, case
):
    entries, limits, words = HOSTILE_ZIPS[case]
    for name, value in limits.items():
        monkeypatch.setattr(collect_mod, name, value)
    hostile = make_zip(inbox / "mallory.zip", entries)
    bad = collect_between_honest(course, inbox, hostile)
    assert bad.student == "mallory"
    for word in words:
        assert word in bad.error, (word, bad.error)
    assert_clean_course(course, {"alice", "carol"})
    assert not list(tmp_path.rglob("evil.py")) and not list(tmp_path.rglob("dev_evil"))


def test_absolute_path_entry_is_rejected_and_not_written(course, inbox, tmp_path):
    target = tmp_path / "outside" / "evil.py"
    hostile = make_zip(inbox / "mallory.zip",
                       {"00_history.ipynb": NOTEBOOK, str(target): b"import os"})
    bad = collect_between_honest(course, inbox, hostile)
    assert "absolute path" in bad.error and str(target) in bad.error
    assert not target.exists() and not target.parent.exists()
    assert_clean_course(course, {"alice", "carol"})


def test_honest_zip_bomb_is_refused_on_its_declared_size_before_inflating(course, inbox):
    """21 MiB of zeros (~21 KB deflated) under the real 20 MiB limit: refused unread."""
    size = collect_mod.MAX_FILE_BYTES + 2**20
    hostile = make_zip(inbox / "mallory.zip",
                       {"cs231n_lib/bomb.py": b"\0" * size, "00_history.ipynb": NOTEBOOK})
    assert hostile.stat().st_size < 100_000
    bad = collect_between_honest(course, inbox, hostile)
    assert f"{size} bytes is over the {collect_mod.MAX_FILE_BYTES} byte limit" in bad.error
    assert_clean_course(course, {"alice", "carol"})


def test_inflation_is_counted_even_when_the_declared_size_passes(course, inbox, monkeypatch):
    """The second line of defence: the streaming count. CPython's zipfile never yields more
    than the declared size, so the declared-size check is switched off to reach it."""
    monkeypatch.setattr(collect_mod, "MAX_FILE_BYTES", 100_000)
    monkeypatch.setattr(collect_mod, "_check_budget", lambda *a: None)
    hostile = make_zip(inbox / "mallory.zip", {"00_history.ipynb": b"\0" * 300_000})
    bad = collect_between_honest(course, inbox, hostile)
    assert "00_history.ipynb" in bad.error and "inflates past the limit" in bad.error
    assert_clean_course(course, {"alice", "carol"})


def _lying_bomb(folder: Path) -> Path:
    return _deflated_bomb(folder / "mallory.zip", real=300_000, declared=100)


def _file_and_dir(folder: Path) -> Path:
    return make_zip(folder / "mallory.zip",
                    {"00_history.ipynb": NOTEBOOK, "cs231n_lib": b"x", "cs231n_lib/a.py": b"y"})


def _dot_entry(folder: Path) -> Path:
    return make_zip(folder / "mallory.zip", {"00_history.ipynb": NOTEBOOK, ".": b"x"})


def _encrypted(folder: Path) -> Path:
    """The "encrypted" flag set by hand (zipfile clears it when writing)."""
    path = make_zip(folder / "mallory.zip",
                    [(entry("00_history.ipynb", compress=zipfile.ZIP_STORED), NOTEBOOK)])
    data = bytearray(path.read_bytes())
    data[6] |= 0x1  # local header: general purpose flags
    data[data.find(b"PK\x01\x02") + 8] |= 0x1  # central directory: same flags
    path.write_bytes(bytes(data))
    assert zipfile.ZipFile(path).infolist()[0].flag_bits & 0x1
    return path


def _garbled(folder: Path) -> Path:
    """The deflate stream overwritten in its middle; headers and directory intact."""
    path = make_zip(folder / "mallory.zip", {"00_history.ipynb": bytes(range(256)) * 40})
    data = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack_from("<HH", data, 26)
    start = 30 + name_len + extra_len
    size = zipfile.ZipFile(path).infolist()[0].compress_size
    data[start + size // 4: start + size // 2] = b"\xa5" * (size // 2 - size // 4)
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("build", [_lying_bomb, _file_and_dir, _dot_entry, _encrypted,
                                   _garbled], ids=lambda f: f.__name__.strip("_"))
def test_corrupt_zip_is_rejected_not_a_crash_of_the_batch(course, inbox, build):
    """A bomb whose declared size lies (CRC then fails), a name that is both file and folder,
    an entry named '.', an encrypted entry, a garbled stream: each must be one message."""
    bad = collect_between_honest(course, inbox, build(inbox))
    assert "mallory.zip" in bad.error or "00_history" in bad.error or "cs231n_lib" in bad.error
    assert_clean_course(course, {"alice", "carol"})


def test_lying_bomb_never_writes_more_than_declared_nor_leaves_scratch(course, inbox):
    """Whatever collect does with a lying bomb today, the course directory stays clean."""
    hostile = _lying_bomb(inbox)
    result = collect_one(course, hostile)
    assert not result.ok
    assert_clean_course(course, set())


def test_zip_written_by_pythons_writestr_is_accepted(course, inbox):
    with zipfile.ZipFile(inbox / "alice.zip", "w") as zf:
        zf.writestr("00_history.ipynb", NOTEBOOK)
    result = collect_one(course, inbox / "alice.zip")
    assert result.ok, result.error


def test_windows_explorer_zip_without_unix_mode_is_accepted(course, inbox):
    info = entry("alice/00_history.ipynb", mode=0x20)  # MS-DOS "archive" bit, no Unix mode
    info.create_system = 0
    make_zip(inbox / "alice.zip", [(info, NOTEBOOK)])
    assert collect_one(course, inbox / "alice.zip").ok
    assert (landed(course, "alice") / "00_history.ipynb").read_bytes() == NOTEBOOK


def test_a_file_named_zip_that_is_not_a_zip_is_rejected(course, inbox):
    hostile = inbox / "mallory.zip"
    hostile.write_bytes(b"<html>this is a download error page</html>\n")
    bad = collect_between_honest(course, inbox, hostile)
    assert "mallory.zip" in bad.error and "not a zip file" in bad.error
    assert_clean_course(course, {"alice", "carol"})


def test_something_neither_zip_nor_directory_is_rejected(course, inbox):
    hostile = inbox / "mallory.tar"
    hostile.write_bytes(b"\0" * 512)
    bad = collect_between_honest(course, inbox, hostile)
    assert "not a .zip file or a directory" in bad.error


def test_an_empty_zip_is_rejected(course, inbox):
    hostile = make_zip(inbox / "mallory.zip", [])
    bad = collect_between_honest(course, inbox, hostile)
    assert "empty submission" in bad.error
    assert_clean_course(course, {"alice", "carol"})


# --------------------------------------------------------------------------- student ids


@pytest.mark.parametrize("name", ["...zip", "..zip", "a b.zip", ".hidden.zip", "-rf.zip",
                                  "ü.zip", "x" * 65 + ".zip", ".zip", "a;rm -rf ~.zip"])
def test_invalid_student_id_is_rejected_and_nothing_is_written(course, inbox, name):
    hostile = inbox / name
    hostile.parent.mkdir(parents=True, exist_ok=True)
    make_zip(hostile, {"00_history.ipynb": NOTEBOOK})
    bad = collect_between_honest(course, inbox, hostile)
    assert bad.student == "?"
    assert "student id" in bad.error and repr(Path(name).name[:-4]) in bad.error
    assert_clean_course(course, {"alice", "carol"})


def test_a_source_path_with_dotdot_takes_its_last_component_as_the_id(course, inbox, tmp_path):
    """``inbox/../x.zip`` is the instructor's path; the id is ``x`` and it lands under
    ``submitted/x``, never beside ``submitted``."""
    make_zip(tmp_path / "x.zip", {"00_history.ipynb": NOTEBOOK})
    [result] = collect(course, [inbox / ".." / "x.zip"])
    assert result.ok and result.student == "x"
    assert (landed(course, "x") / "00_history.ipynb").read_bytes() == NOTEBOOK
    assert_clean_course(course, {"x"})


@pytest.mark.parametrize("name,expected", [("alice.zip", "alice"), ("bob", "bob"),
                                           ("s1234567.zip", "s1234567"),
                                           ("jean-luc.picard_2.zip", "jean-luc.picard_2")])
def test_plain_student_ids(name, expected):
    assert student_id_for(Path("/inbox") / name) == expected


# --------------------------------------------------------------------------- hostile directories


def test_directory_with_a_symlink_to_etc_passwd_is_rejected(course, inbox):
    hostile = honest_dir(inbox / "dirs2", "mallory")
    os.symlink("/etc/passwd", hostile / "convnets" / "cs231n_lib" / "passwd.py")
    bad = collect_between_honest(course, inbox, hostile)
    assert "passwd.py" in bad.error and "symlinks are not accepted" in bad.error
    assert_clean_course(course, {"alice", "carol"})
    assert not list(course.root.rglob("passwd*"))


def test_directory_with_a_symlinked_folder_is_rejected(course, inbox):
    hostile = honest_dir(inbox / "dirs2", "mallory")
    os.symlink("/etc", hostile / "convnets" / "etc")
    bad = collect_between_honest(course, inbox, hostile)
    assert "symlinks are not accepted" in bad.error
    assert_clean_course(course, {"alice", "carol"})


def test_directory_with_a_fifo_is_rejected(course, inbox):
    hostile = honest_dir(inbox / "dirs2", "mallory")
    os.mkfifo(hostile / "convnets" / "pipe")
    bad = collect_between_honest(course, inbox, hostile)
    assert "pipe" in bad.error and "regular file" in bad.error
    assert_clean_course(course, {"alice", "carol"})


def test_directory_with_a_file_over_the_limit_is_rejected(course, inbox, monkeypatch):
    monkeypatch.setattr(collect_mod, "MAX_FILE_BYTES", 1000)
    hostile = honest_dir(inbox / "dirs2", "mallory")
    (hostile / "convnets" / "big.bin").write_bytes(b"#" * 1001)
    bad = collect_between_honest(course, inbox, hostile)
    assert "big.bin" in bad.error and "over the 1000 byte limit" in bad.error
    assert_clean_course(course, {"alice", "carol"})


def test_a_symlink_as_the_submission_itself_is_rejected(course, inbox, tmp_path):
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "gradebook.db").write_bytes(b"grades")
    os.symlink(secret, inbox / "mallory")
    bad = collect_between_honest(course, inbox, inbox / "mallory")
    assert "not a .zip file or a directory" in bad.error
    assert_clean_course(course, {"alice", "carol"})


def test_macos_finder_debris_is_dropped_before_unwrapping(course, inbox):
    make_zip(inbox / "alice.zip", {
        "alice/convnets/00_history.ipynb": NOTEBOOK,
        "alice/convnets/cs231n_lib/conv_naive.py": b"x = 1\n",
        "__MACOSX/alice/convnets/._00_history.ipynb": b"junk",
        "alice/convnets/.DS_Store": b"junk",
    })
    assert collect_one(course, inbox / "alice.zip").ok
    assert (landed(course, "alice") / "00_history.ipynb").read_bytes() == NOTEBOOK
    assert (landed(course, "alice") / "cs231n_lib" / "conv_naive.py").exists()
    assert not (landed(course, "alice") / "__MACOSX").exists()


def test_library_only_submission_keeps_its_package_folder(course, inbox):
    make_zip(inbox / "alice.zip", {"cs231n_lib/conv_naive.py": b"x = 1\n",
                                   "cs231n_lib/pooling.py": b"y = 2\n"})
    assert collect_one(course, inbox / "alice.zip").ok
    assert (landed(course, "alice") / "cs231n_lib" / "pooling.py").read_bytes() == b"y = 2\n"


def test_only_the_assignment_files_are_taken_and_the_rest_is_named(course, inbox):
    """A shipped grader/ (it would win the import of the kernel launcher), an extra module, a
    data file: dropped and listed, the assignment's files still taken."""
    files = {k.format(who="mallory"): v for k, v in HONEST.items()}
    files["mallory/convnets/grader/kernel_sandbox.py"] = b"import os; os.system('id')\n"
    files["mallory/convnets/grader/__init__.py"] = b""
    files["mallory/convnets/cs231n_lib/helper.py"] = b"COPY = 'of the fast path'\n"
    files["mallory/convnets/notes.txt"] = b"hi"
    (result,) = collect(course, [make_zip(inbox / "mallory.zip", files)])
    assert result.ok, result.error
    assert set(result.dropped) == {"grader/kernel_sandbox.py", "grader/__init__.py",
                                   "cs231n_lib/helper.py", "notes.txt"}
    taken = landed(course, "mallory")
    assert not (taken / "grader").exists() and not (taken / "notes.txt").exists()
    assert (taken / "cs231n_lib" / "conv_naive.py").is_file()


def test_wrong_folder_names_are_rejected_with_the_expected_names(course, inbox):
    files = {"mallory/work/notebook_one.ipynb": NOTEBOOK, "mallory/work/lib/conv.py": b""}
    (result,) = collect(course, [make_zip(inbox / "mallory.zip", files)])
    assert not result.ok
    assert "no file of the assignment" in result.error
    assert "00_history.ipynb" in result.error and "cs231n_lib/" in result.error
    assert not (course.submitted / "mallory").exists()


def test_library_in_a_wrongly_named_folder_is_rejected_naming_the_expected_folder(course, inbox):
    files = {"alice/00_history.ipynb": NOTEBOOK, "alice/cs231n-lib/conv_naive.py": b"x = 1\n"}
    (result,) = collect(course, [make_zip(inbox / "alice.zip", files)])
    assert not result.ok
    assert "cs231n-lib/conv_naive.py should be cs231n_lib/conv_naive.py" in result.error
    assert not (course.submitted / "alice").exists()


def test_notebooks_in_a_subfolder_are_rejected_naming_where_they_belong(course, inbox):
    files = {"notebooks/00_history.ipynb": NOTEBOOK, "cs231n_lib/conv_naive.py": b""}
    (result,) = collect(course, [make_zip(inbox / "bob.zip", files)])
    assert not result.ok and "notebooks/00_history.ipynb should be 00_history.ipynb" in result.error


def test_a_missing_zip_says_so(course, inbox):
    (result,) = collect(course, [inbox / "carol.zip"])
    assert not result.ok and "no such file or directory" in result.error
