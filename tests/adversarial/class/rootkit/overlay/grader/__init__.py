# The attack: a module named like the grader's own, hoping that a trusted process started in
# the submission's folder imports it (python -m grader... puts the folder first on sys.path).
import os
with open({HOST_MARKER!r}, "w") as fh:
    fh.write(f"ran as uid {os.getuid()} from {__file__}")
