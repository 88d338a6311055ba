

# --- the attack: a wrong result sent under the request's real nonce, before the honest one ---
import json as _json
import sys as _sys

_honest_fc_to_conv = fc_to_conv


def fc_to_conv(w, b, input_shape):
    weights, bias = _honest_fc_to_conv(w, b, input_shape)
    frame = _sys._getframe()
    while frame is not None and "request_nonce" not in frame.f_locals:
        frame = frame.f_back
    if frame is not None:  # the worker's loop: its nonce, pipe and the recipe's output names
        from grader.harness import transport

        names = list(frame.f_locals["recipe"]["outputs"])
        wrong = dict(zip(names, (weights + 1.0, bias + 1.0), strict=False))
        res = int(_json.loads(_sys.argv[1])["res"])
        transport.write_frame(res, {"nonce": frame.f_locals["request_nonce"], "status": "ok"},
                              wrong)
    return weights, bias
