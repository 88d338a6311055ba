"""The course's two nbgrader config files: the instructor's, and cs231n-grader's.

* ``nbgrader_config.py`` is the instructor's (nbgrader, formgrader and the exchange read it).
  ``release`` creates it once, as a short file that loads ours first; afterwards it is never
  rewritten. An existing file of the instructor's (``nbgrader quickstart``, a hand-written one)
  keeps every byte: the one line that loads ours is put in front of it (a copy of the file as it
  was is kept in ``nbgrader_config.py.orig``). Whatever it sets overrides ours.
* ``cs231n_grader_config.py`` holds the course mechanics (rewritten by every release): course
  id, exchange root, exclude_overwriting, timeouts, the safe feedback, the stock-autograde
  refusal. Settings the trust rules rely on (:data:`GUARDED`) may not be overridden by the
  instructor's file; release refuses and names the setting.

The course id and exchange root given to ``release`` are remembered in
``.grader/release.json``, so a rerun without ``--course-id`` / ``--exchange`` keeps them.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from grader.course.paths import CoursePaths, course_config, read_json_object

GRADER_CONFIG = "cs231n_grader_config.py"
INCLUDE_LINE = f'load_subconfig("{GRADER_CONFIG}")  # noqa: F821  cs231n-grader: keep this line'
#: The first line of the single-file config older releases wrote (replaced, kept as .orig).
OLD_GENERATED = "written by grader.course.release"
COURSE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
#: (section, setting) the instructor's file may not change: grading safety depends on them.
GUARDED = [
    ("Autograde", "exclude_overwriting"),
    ("Autograde", "pre_convert_hook"),
    ("GenerateFeedback", "preprocessors"),
    ("HTMLExporter", "sanitize_html"),
    ("SafeFeedback", "reports_dir"),
]

INSTRUCTOR_TEMPLATE = f'''"""nbgrader config of this course: yours to edit;
`cs231n-grader release` never rewrites it.

The course mechanics are in {GRADER_CONFIG} (rewritten by every release), loaded by the
line below; a setting here overrides it, except the few grading safety depends on (release
names them if you change one).
"""
c = get_config()  # noqa: F821  (nbgrader injects get_config)
{INCLUDE_LINE}

# Your settings, for example:
# c.Exchange.root = "/srv/nbgrader/exchange"
# c.LateSubmissionPlugin.penalty_method = "zero"
'''


def state_file(paths: CoursePaths) -> Path:
    return paths.private / "release.json"


def remembered(paths: CoursePaths) -> dict[str, str]:
    """The course id and exchange root of the last release (empty if none)."""
    data = read_json_object(state_file(paths))
    return {k: v for k, v in data.items() if isinstance(v, str)}


def _check_course_id(course_id: str) -> str:
    if not isinstance(course_id, str) or not COURSE_ID.match(course_id):
        raise ValueError(f"course id {course_id!r} must be 1-64 letters, digits, '_', '.', '-' "
                         "(nbgrader puts it in the exchange's folder names)")
    return course_id


def default_course_id(paths: CoursePaths) -> str:
    """The course directory's name made into a valid id (``my course`` -> ``my-course``)."""
    name = re.sub(r"[^A-Za-z0-9_.\-]+", "-", paths.root.name).strip("-._") or "course"
    return name[:64]


def ensure_instructor_config(paths: CoursePaths) -> str:
    """Create ``nbgrader_config.py`` or make it load ours; never drop a line of it.
    Returns what was done (``created``, ``kept``, ``included``, ``replaced old``)."""
    config = paths.config
    if config.is_symlink() or (config.exists() and not config.is_file()):
        raise ValueError(f"{config} is not a regular file")
    if not config.exists():
        config.write_text(INSTRUCTOR_TEMPLATE)
        return "created"
    text = config.read_text()
    if INCLUDE_LINE in text:
        return "kept"
    shutil.copy2(config, config.with_name(config.name + ".orig"))
    if OLD_GENERATED in text.split("\n", 1)[0]:
        # the one-file config of older releases: all of it is regenerated in ours now
        config.write_text(INSTRUCTOR_TEMPLATE)
        return "replaced old"
    config.write_text(f"{INCLUDE_LINE}  (added by cs231n-grader release)\n{text}")
    return "included"


def _value(config, section: str, name: str) -> object:
    value = config[section][name] if section in config and name in config[section] else None
    return getattr(value, "__qualname__", value) if callable(value) else value


def check_guarded(paths: CoursePaths, ours: Path) -> None:
    """Refuse when the instructor's file changes a :data:`GUARDED` setting or skips ours."""
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    alone = Config()
    alone.merge(PyFileConfigLoader(ours.name, path=str(ours.parent)).load_config())
    merged = course_config(paths)
    for section, name in GUARDED:
        if _value(merged, section, name) != _value(alone, section, name):
            raise ValueError(f"{paths.config} changes c.{section}.{name}, which grading safety "
                             f"depends on (set in {GRADER_CONFIG}): remove that line")


def resolve_settings(paths: CoursePaths, course_id: str | None,
                     exchange: Path | str | None) -> dict[str, str]:
    """The course id and exchange root for this release: the arguments, else the last
    release's, else (id only) the directory's name. Validated; exchange made absolute."""
    before = remembered(paths)
    if course_id is None:
        course_id = before.get("course_id") or default_course_id(paths)
    chosen = {"course_id": _check_course_id(course_id)}
    if exchange is not None:
        root = Path(exchange).expanduser().resolve()
        if root.exists() and not root.is_dir():
            raise ValueError(f"--exchange {exchange}: not a directory")
        chosen["exchange"] = str(root)
    elif before.get("exchange"):
        chosen["exchange"] = before["exchange"]
    return chosen


def write_configs(paths: CoursePaths, grader_text: str, settings: dict[str, str],
                  explicit_id: bool) -> dict[str, str]:
    """Write ours, make the instructor's load it, check the result; return the settings
    nbgrader will really use (the instructor's file may set another course id or exchange)."""
    paths.root.mkdir(parents=True, exist_ok=True)
    paths.private.mkdir(exist_ok=True)
    ours = paths.root / GRADER_CONFIG
    ours.write_text(grader_text)
    ensure_instructor_config(paths)
    check_guarded(paths, ours)
    merged = course_config(paths)
    final = {"course_id": str(merged.CourseDirectory.get("course_id", ""))}
    if explicit_id and final["course_id"] != settings["course_id"]:
        raise ValueError(f"--course-id {settings['course_id']} but {paths.config} sets "
                         f"c.CourseDirectory.course_id = {final['course_id']!r}: change one")
    if "root" in merged.get("Exchange", {}):
        final["exchange"] = str(merged.Exchange.root)
    state_file(paths).write_text(json.dumps(
        {k: v for k, v in settings.items() if k in ("course_id", "exchange")}, indent=1))
    return final
