

# --- the attack: pool_output_size (provided) computes the same formula -----------------
def conv_output_size(W, F, S=1, P=0, dilation=1):
    return pool_output_size(W, (F - 1) * dilation + 1, S, P)
