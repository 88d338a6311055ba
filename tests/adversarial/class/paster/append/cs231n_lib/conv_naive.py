

def conv_forward_naive(x, w, b, conv_param):
    # the provided fast convolution, pasted above: no call into conv_fast for a tripwire
    return conv_forward_fast(x, w, b, conv_param)
