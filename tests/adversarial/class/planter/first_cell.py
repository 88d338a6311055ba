# The attack, run in the student's kernel during autograde: leave traps for the trusted code
# that works in this folder next, and try to read what it must not.
import json, os
tried = {}
def attempt(name, fn):
    try:
        tried[name] = repr(fn())[:80]
    except BaseException as exc:
        tried[name] = type(exc).__name__
attempt("link_next_notebook", lambda: os.symlink({COURSE_GRADEBOOK!r}, "01_fc_vs_conv.ipynb"))
attempt("link_relative", lambda: os.symlink("../../../gradebook.db", "02_local_connectivity.ipynb"))
attempt("fifo", lambda: os.mkfifo("03_parameter_sharing.ipynb"))
attempt("link_repo", lambda: os.symlink({REPO_GRADER!r}, "grader_repo"))
attempt("link_classmate", lambda: os.symlink({CLASSMATE!r}, "classmate"))
attempt("read_gradebook", lambda: len(open({COURSE_GRADEBOOK!r}, "rb").read()))
attempt("read_source", lambda: len(open("../../../source/convnets/00_history.ipynb").read()))
attempt("read_classmate", lambda: len(open({CLASSMATE!r} + "/cs231n_lib/conv_naive.py").read()))
attempt("write_host", lambda: open({HOST_MARKER!r}, "w").write("pwned"))
attempt("fork", os.fork)
print(json.dumps(tried))
