"""The classic bugs of each layer, one function each, as students write them.

Every variant is ``layers.py``'s correct code with one mistake. ``BUGS`` maps each (kind, bug)
of gradcheck's catalogue to the functions to check, so that::

    gradcheck layer conv \
        --impl samples/layers/buggy.py:conv_forward_naive,conv_backward_kernel_flipped

fails, and its diagnosis names the bug. The tests run every entry (float64 and float32) and
docs/layers.md reports how many are caught and named.
"""

import numpy as np
from layers import (
    affine_backward,
    affine_forward,
    avg_pool_forward_naive,
    batchnorm_forward,
    conv_forward_naive,
    dropout_forward,
    layernorm_forward,
    leaky_relu_forward,
    lstm_step_forward,
    max_pool_forward_naive,
    relu_forward,
    rnn_step_forward,
    sigmoid_forward,
    spatial_batchnorm_forward,
    spatial_groupnorm_forward,
    tanh_forward,
    temporal_affine_forward,
    word_embedding_forward,
)

# ------------------------------------------------------------------------------------------
# affine


def affine_backward_not_reshaped(dout, cache):
    x, w, b = cache
    dx = dout.dot(w.T)  # (N, D): x's shape forgotten
    dw = x.reshape(x.shape[0], -1).T.dot(dout)
    db = np.sum(dout, axis=0)
    return dx, dw, db


def affine_backward_db_one_example(dout, cache):
    dx, dw, _ = affine_backward(dout, cache)
    return dx, dw, dout[0]


def affine_backward_dw_one_example(dout, cache):
    x, w, b = cache
    dx, _, db = affine_backward(dout, cache)
    dw = np.outer(x.reshape(x.shape[0], -1)[0], dout[0])
    return dx, dw, db


# ------------------------------------------------------------------------------------------
# activations


def relu_backward_no_dout(dout, cache):
    x = cache
    return (x > 0).astype(dout.dtype)


def relu_backward_of_dout(dout, cache):
    return np.maximum(0, dout)


def leaky_relu_backward_no_dout(dout, cache):
    x, slope = cache
    return np.where(x > 0, 1.0, slope).astype(dout.dtype)


def leaky_relu_backward_of_dout(dout, cache):
    x, slope = cache
    return np.where(dout > 0, dout, slope * dout)


def leaky_relu_backward_slope_dropped(dout, cache):
    x, slope = cache
    return dout * (x > 0)


def sigmoid_forward_keep_x(x):
    out = 1.0 / (1.0 + np.exp(-x))
    return out, (x, out)


def sigmoid_backward_at_input(dout, cache):
    x, out = cache
    return dout * x * (1 - x)  # a(1 − a) with a = x


def sigmoid_backward_of_output(dout, cache):
    out = cache
    s = 1.0 / (1.0 + np.exp(-out))  # σ′ evaluated at σ(x)
    return dout * s * (1 - s)


def sigmoid_backward_no_dout(dout, cache):
    out = cache
    return out * (1 - out)


def sigmoid_backward_of_dout(dout, cache):
    return 1.0 / (1.0 + np.exp(-dout))


def tanh_forward_keep_x(x):
    out = np.tanh(x)
    return out, (x, out)


def tanh_backward_at_input(dout, cache):
    x, out = cache
    return dout * (1 - x**2)


def tanh_backward_of_output(dout, cache):
    out = cache
    return dout * (1 - np.tanh(out) ** 2)


def tanh_backward_no_dout(dout, cache):
    out = cache
    return 1 - out**2


def tanh_backward_of_dout(dout, cache):
    return np.tanh(dout)


# ------------------------------------------------------------------------------------------
# convolution and pooling


def _conv_backward(dout, cache, flip=False, crop=True, use_stride=True, db_positions=True):
    x, w, b, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    step = stride if use_stride else 1
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    _, _, H_out, W_out = dout.shape
    kernel = w[:, :, ::-1, ::-1] if flip else w
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="constant")
    dx_pad = np.zeros_like(x_pad)
    dw = np.zeros_like(w)
    db = np.sum(dout, axis=(0, 2, 3)) if db_positions else np.sum(dout, axis=0)
    for n in range(N):
        for f in range(F):
            for i in range(H_out):
                for j in range(W_out):
                    hs, ws = i * step, j * step
                    dw[f] += x_pad[n, :, hs : hs + HH, ws : ws + WW] * dout[n, f, i, j]
                    dx_pad[n, :, hs : hs + HH, ws : ws + WW] += kernel[f] * dout[n, f, i, j]
    dx = dx_pad[:, :, pad : pad + H, pad : pad + W] if crop else dx_pad
    return dx, dw, db


def conv_backward_kernel_flipped(dout, cache):
    return _conv_backward(dout, cache, flip=True)


def conv_backward_padding_not_cropped(dout, cache):
    return _conv_backward(dout, cache, crop=False)


def conv_backward_stride_ignored(dout, cache):
    return _conv_backward(dout, cache, use_stride=False)


def conv_backward_db_not_summed(dout, cache):
    return _conv_backward(dout, cache, db_positions=False)


def _pool_loop(dout, cache, route):
    x, pool_param = cache
    ph, pw, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H_out, W_out = dout.shape
    dx = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    window = x[n, c, i * stride : i * stride + ph, j * stride : j * stride + pw]
                    dx[n, c, i * stride : i * stride + ph, j * stride : j * stride + pw] += route(
                        window, dout[n, c, i, j]
                    )
    return dx


def max_pool_backward_spread(dout, cache):
    return _pool_loop(dout, cache, lambda window, d: np.full(window.shape, d / window.size))


def max_pool_backward_ties_double_counted(dout, cache):
    return _pool_loop(dout, cache, lambda window, d: (window == np.max(window)) * d)


def max_pool_backward_copied(dout, cache):
    return _pool_loop(dout, cache, lambda window, d: np.full(window.shape, d))


def avg_pool_backward_not_divided(dout, cache):
    return _pool_loop(dout, cache, lambda window, d: np.full(window.shape, d))


def avg_pool_backward_to_maximum(dout, cache):
    def route(window, d):
        out = np.zeros(window.shape)
        out.flat[np.argmax(window)] = d
        return out

    return _pool_loop(dout, cache, route)


# ------------------------------------------------------------------------------------------
# normalisation: the compact backward, over the statistics axes, with one mistake


def _norm_backward(dout, xhat, std, gamma, axes, param_axes, mistake=""):
    M = np.prod([dout.shape[a] for a in axes])
    dbeta = dout.sum(axis=param_axes)
    dgamma = (dout * xhat).sum(axis=param_axes)
    if mistake == "dgamma":
        dgamma = dout.sum(axis=param_axes)
    g = dout * gamma
    if mistake == "constant":
        dx = g / std
    elif mistake == "no_xhat":
        dx = (g - g.mean(axis=axes, keepdims=True)) / std
    else:
        dx = (
            M * g
            - g.sum(axis=axes, keepdims=True)
            - xhat * (g * xhat).sum(axis=axes, keepdims=True)
        ) / (M * std)
    return dx, dgamma, dbeta


def batchnorm_forward_ddof1(x, gamma, beta, bn_param):
    eps = bn_param.get("eps", 1e-5)
    mu = x.mean(axis=0)
    var = x.var(axis=0, ddof=1)  # N − 1
    std = np.sqrt(var + eps)
    xhat = (x - mu) / std
    return gamma * xhat + beta, (xhat, std, gamma)


def batchnorm_backward_constant(dout, cache):
    xhat, std, gamma = cache
    return _norm_backward(dout, xhat, std, gamma, (0,), 0, "constant")


def batchnorm_backward_no_xhat(dout, cache):
    xhat, std, gamma = cache
    return _norm_backward(dout, xhat, std, gamma, (0,), 0, "no_xhat")


def batchnorm_backward_dgamma(dout, cache):
    xhat, std, gamma = cache
    return _norm_backward(dout, xhat, std, gamma, (0,), 0, "dgamma")


def batchnorm_backward_compact(dout, cache):
    xhat, std, gamma = cache
    return _norm_backward(dout, xhat, std, gamma, (0,), 0)


def _spatial(bn_backward):
    def backward(dout, cache):
        N, C, H, W = dout.shape
        flat = dout.transpose(0, 2, 3, 1).reshape(-1, C)
        dx, dgamma, dbeta = bn_backward(flat, cache)
        return dx.reshape(N, H, W, C).transpose(0, 3, 1, 2), dgamma, dbeta

    return backward


def _spatial_forward(bn_forward):
    def forward(x, gamma, beta, bn_param):
        N, C, H, W = x.shape
        out, cache = bn_forward(x.transpose(0, 2, 3, 1).reshape(-1, C), gamma, beta, bn_param)
        return out.reshape(N, H, W, C).transpose(0, 3, 1, 2), cache

    return forward


spatial_batchnorm_backward_constant = _spatial(batchnorm_backward_constant)
spatial_batchnorm_backward_no_xhat = _spatial(batchnorm_backward_no_xhat)
spatial_batchnorm_backward_dgamma = _spatial(batchnorm_backward_dgamma)
spatial_batchnorm_backward_compact = _spatial(batchnorm_backward_compact)
spatial_batchnorm_forward_ddof1 = _spatial_forward(batchnorm_forward_ddof1)


def spatial_batchnorm_forward_no_transpose(x, gamma, beta, bn_param):
    N, C, H, W = x.shape
    out, cache = batchnorm_forward(x.reshape(-1, C), gamma, beta, bn_param)  # rows mix channels
    return out.reshape(N, C, H, W), cache


def spatial_batchnorm_backward_no_transpose(dout, cache):
    N, C, H, W = dout.shape
    dx, dgamma, dbeta = batchnorm_backward_compact(dout.reshape(-1, C), cache)
    return dx.reshape(N, C, H, W), dgamma, dbeta


def layernorm_forward_ddof1(x, gamma, beta, ln_param):
    eps = ln_param.get("eps", 1e-5)
    mu = x.mean(axis=1, keepdims=True)
    std = np.sqrt(x.var(axis=1, ddof=1, keepdims=True) + eps)
    xhat = (x - mu) / std
    return gamma * xhat + beta, (xhat, std, gamma)


def layernorm_forward_over_batch(x, gamma, beta, ln_param):
    eps = ln_param.get("eps", 1e-5)
    std = np.sqrt(x.var(axis=0) + eps)
    xhat = (x - x.mean(axis=0)) / std
    return gamma * xhat + beta, (xhat, std, gamma)


def _layernorm_backward(mistake):
    def backward(dout, cache):
        xhat, std, gamma = cache
        return _norm_backward(dout, xhat, std, gamma, (1,), 0, mistake)

    return backward


layernorm_backward_constant = _layernorm_backward("constant")
layernorm_backward_no_xhat = _layernorm_backward("no_xhat")
layernorm_backward_dgamma = _layernorm_backward("dgamma")
layernorm_backward_compact = _layernorm_backward("")


def layernorm_backward_over_batch(dout, cache):
    xhat, std, gamma = cache
    return _norm_backward(dout, xhat, std, gamma, (0,), 0)


def _groupnorm_forward(groups=None, ddof=0):
    def forward(x, gamma, beta, G, gn_param):
        G = G if groups is None else groups(x.shape[1], G)
        eps = gn_param.get("eps", 1e-5)
        N, C, H, W = x.shape
        grouped = x.reshape(N, G, C // G, H, W)
        mu = grouped.mean(axis=(2, 3, 4), keepdims=True)
        std = np.sqrt(grouped.var(axis=(2, 3, 4), ddof=ddof, keepdims=True) + eps)
        xhat = ((grouped - mu) / std).reshape(N, C, H, W)
        return gamma * xhat + beta, (xhat, std, gamma, G)

    return forward


def _groupnorm_backward(mistake=""):
    def backward(dout, cache):
        xhat, std, gamma, G = cache
        N, C, H, W = dout.shape
        g5 = dout.reshape(N, G, C // G, H, W)
        x5 = xhat.reshape(N, G, C // G, H, W)
        gm = np.broadcast_to(gamma.reshape(1, G, C // G, 1, 1), g5.shape)
        dx, _, _ = _norm_backward(g5, x5, std, gm, (2, 3, 4), (0, 3, 4), mistake)
        dbeta = dout.sum(axis=(0, 2, 3), keepdims=True)
        dgamma = (dout * (1 if mistake == "dgamma" else xhat)).sum(axis=(0, 2, 3), keepdims=True)
        return dx.reshape(N, C, H, W), dgamma, dbeta

    return backward


spatial_groupnorm_forward_ddof1 = _groupnorm_forward(ddof=1)
spatial_groupnorm_forward_per_channel = _groupnorm_forward(groups=lambda C, G: C)
spatial_groupnorm_forward_all_channels = _groupnorm_forward(groups=lambda C, G: 1)
spatial_groupnorm_backward_constant = _groupnorm_backward("constant")
spatial_groupnorm_backward_no_xhat = _groupnorm_backward("no_xhat")
spatial_groupnorm_backward_dgamma = _groupnorm_backward("dgamma")
spatial_groupnorm_backward_compact = _groupnorm_backward()


# ------------------------------------------------------------------------------------------
# dropout


def dropout_backward_mask_not_applied(dout, cache):
    return dout


def dropout_forward_not_scaled(x, dropout_param):
    p, mode = dropout_param["p"], dropout_param["mode"]
    np.random.seed(dropout_param["seed"])
    mask = None
    out = x
    if mode == "train":
        mask = np.random.rand(*x.shape) < p  # not divided by p
        out = x * mask
    return out, (dropout_param, mask)


def dropout_backward_not_scaled(dout, cache):
    dropout_param, mask = cache
    return dout * mask if dropout_param["mode"] == "train" else dout


def dropout_forward_drop_probability(x, dropout_param):
    p, mode = dropout_param["p"], dropout_param["mode"]
    np.random.seed(dropout_param["seed"])
    mask = None
    out = x
    if mode == "train":
        mask = (np.random.rand(*x.shape) >= p) / (1 - p)  # p read as the drop probability
        out = x * mask
    return out, (dropout_param, mask)


def dropout_forward_test_mode_dropped(x, dropout_param):
    p = dropout_param["p"]
    np.random.seed(dropout_param["seed"])
    mask = (np.random.rand(*x.shape) < p) / p  # whatever the mode
    return x * mask, (dropout_param, mask)


def dropout_backward_test_mode_dropped(dout, cache):
    dropout_param, mask = cache
    return dout * mask


# ------------------------------------------------------------------------------------------
# losses


def softmax_loss_no_mean(x, y):
    shifted = x - np.max(x, axis=1, keepdims=True)
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    probs = np.exp(log_probs)
    N = x.shape[0]
    loss = -np.sum(log_probs[np.arange(N), y])
    dx = probs.copy()
    dx[np.arange(N), y] -= 1
    return loss, dx


def softmax_loss_onehot_kept(x, y):
    shifted = x - np.max(x, axis=1, keepdims=True)
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    N = x.shape[0]
    loss = -np.sum(log_probs[np.arange(N), y]) / N
    return loss, np.exp(log_probs) / N


def _svm(x, y, delta=1.0, zero_correct=True, mean=True):
    N = x.shape[0]
    margins = np.maximum(0, x - x[np.arange(N), y][:, np.newaxis] + delta)
    if zero_correct:
        margins[np.arange(N), y] = 0
    loss = np.sum(margins)
    dx = (margins > 0).astype(x.dtype)
    dx[np.arange(N), y] -= np.sum(margins > 0, axis=1)
    if mean:
        loss, dx = loss / N, dx / N
    return loss, dx


def svm_loss_no_mean(x, y):
    return _svm(x, y, mean=False)


def svm_loss_correct_class_counted(x, y):
    return _svm(x, y, zero_correct=False)


def svm_loss_no_delta(x, y):
    return _svm(x, y, delta=0.0)


def _temporal(x, y, mask, use_mask=True, divide=None):
    N, T, V = x.shape
    x_flat, y_flat = x.reshape(N * T, V), y.reshape(N * T)
    m = mask.reshape(N * T) if use_mask else np.ones(N * T)
    probs = np.exp(x_flat - np.max(x_flat, axis=1, keepdims=True))
    probs /= np.sum(probs, axis=1, keepdims=True)
    d = {None: N, "NT": N * T, "none": 1}[divide]
    loss = -np.sum(m * np.log(probs[np.arange(N * T), y_flat])) / d
    dx = probs.copy()
    dx[np.arange(N * T), y_flat] -= 1
    dx = dx / d * m[:, None]
    return loss, dx.reshape(N, T, V)


def temporal_softmax_loss_mask_ignored(x, y, mask):
    return _temporal(x, y, mask, use_mask=False)


def temporal_softmax_loss_over_nt(x, y, mask):
    return _temporal(x, y, mask, divide="NT")


def temporal_softmax_loss_no_mean(x, y, mask):
    return _temporal(x, y, mask, divide="none")


# ------------------------------------------------------------------------------------------
# recurrent steps


def rnn_step_forward_keep_a(x, prev_h, Wx, Wh, b):
    a = x.dot(Wx) + prev_h.dot(Wh) + b
    next_h = np.tanh(a)
    return next_h, (x, prev_h, Wx, Wh, next_h, a)


def _rnn_backward(da, cache):
    x, prev_h, Wx, Wh = cache[:4]
    return da.dot(Wx.T), da.dot(Wh.T), x.T.dot(da), prev_h.T.dot(da), np.sum(da, axis=0)


def rnn_step_backward_at_pre_activation(dnext_h, cache):
    a = cache[5]
    return _rnn_backward(dnext_h * (1 - a**2), cache)


def rnn_step_backward_no_derivative(dnext_h, cache):
    return _rnn_backward(dnext_h, cache)


def rnn_step_backward_weights_swapped(dnext_h, cache):
    x, prev_h, Wx, Wh, next_h = cache
    da = dnext_h * (1 - next_h**2)
    return da.dot(Wx.T), da.dot(Wh.T), prev_h.T.dot(da), x.T.dot(da), np.sum(da, axis=0)


def _sigmoid(x):
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + z), z / (1 + z))


def _lstm_forward(order):
    def forward(x, prev_h, prev_c, Wx, Wh, b):
        H = prev_h.shape[1]
        a = x.dot(Wx) + prev_h.dot(Wh) + b
        blocks = {k: a[:, n * H : (n + 1) * H] for n, k in enumerate(order)}
        i, f, o = _sigmoid(blocks["i"]), _sigmoid(blocks["f"]), _sigmoid(blocks["o"])
        g = np.tanh(blocks["g"])
        next_c = f * prev_c + i * g
        next_h = o * np.tanh(next_c)
        return next_h, next_c, (x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c, order)

    return forward


def _lstm_backward(at_c=False, drop_dnext_c=False):
    def backward(dnext_h, dnext_c, cache):
        x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c = cache[:10]
        order = cache[10] if len(cache) > 10 else "ifog"
        tc = np.tanh(next_c)
        slope = 1 - next_c**2 if at_c else 1 - tc**2
        dc = (0 if drop_dnext_c else dnext_c) + dnext_h * o * slope
        grads = {
            "i": dc * g * i * (1 - i),
            "f": dc * prev_c * f * (1 - f),
            "o": dnext_h * tc * o * (1 - o),
            "g": dc * i * (1 - g**2),
        }
        da = np.hstack([grads[k] for k in order])
        return da.dot(Wx.T), da.dot(Wh.T), dc * f, x.T.dot(da), prev_h.T.dot(da), np.sum(da, axis=0)

    return backward


lstm_step_forward_ifgo = _lstm_forward("ifgo")
lstm_step_forward_fiog = _lstm_forward("fiog")
lstm_step_backward_ordered = _lstm_backward()
lstm_step_backward_at_cell_state = _lstm_backward(at_c=True)
lstm_step_backward_dnext_c_dropped = _lstm_backward(drop_dnext_c=True)


# ------------------------------------------------------------------------------------------
# word embedding and temporal affine


def word_embedding_backward_overwritten(dout, cache):
    x, shape = cache
    dW = np.zeros(shape, dtype=dout.dtype)
    dW[x] = dout  # a repeated word keeps one dout
    return dW


def temporal_affine_backward_not_reshaped(dout, cache):
    x, w, b = cache
    N, T, D = x.shape
    M = b.shape[0]
    dx = dout.reshape(N * T, M).dot(w.T)
    dw = x.reshape(N * T, D).T.dot(dout.reshape(N * T, M))
    return dx, dw, dout.sum(axis=(0, 1))


def temporal_affine_backward_first_step(dout, cache):
    x, w, b = cache
    N, T, D = x.shape
    M = b.shape[0]
    dx = dout.reshape(N * T, M).dot(w.T).reshape(N, T, D)
    return dx, x[:, 0, :].T.dot(dout[:, 0, :]), dout[:, 0, :].sum(axis=0)


def temporal_affine_backward_db_over_batch(dout, cache):
    x, w, b = cache
    N, T, D = x.shape
    M = b.shape[0]
    dx = dout.reshape(N * T, M).dot(w.T).reshape(N, T, D)
    dw = x.reshape(N * T, D).T.dot(dout.reshape(N * T, M))
    return dx, dw, dout.sum(axis=0)


#: (kind, bug id in gradcheck's record) → the functions --impl takes.
BUGS = {
    ("affine", "dx_not_reshaped"): "affine_forward,affine_backward_not_reshaped",
    ("affine", "db_from_one_example"): "affine_forward,affine_backward_db_one_example",
    ("affine", "dw_without_batch_sum"): "affine_forward,affine_backward_dw_one_example",
    ("relu", "upstream_missing"): "relu_forward,relu_backward_no_dout",
    ("relu", "function_of_dout"): "relu_forward,relu_backward_of_dout",
    ("leaky_relu", "upstream_missing"): "leaky_relu_forward,leaky_relu_backward_no_dout",
    ("leaky_relu", "function_of_dout"): "leaky_relu_forward,leaky_relu_backward_of_dout",
    ("leaky_relu", "parameter_dropped"): "leaky_relu_forward,leaky_relu_backward_slope_dropped",
    ("sigmoid", "upstream_missing"): "sigmoid_forward,sigmoid_backward_no_dout",
    ("sigmoid", "function_of_dout"): "sigmoid_forward,sigmoid_backward_of_dout",
    ("sigmoid", "derivative_at_input"): "sigmoid_forward_keep_x,sigmoid_backward_at_input",
    ("sigmoid", "derivative_of_output"): "sigmoid_forward,sigmoid_backward_of_output",
    ("tanh", "upstream_missing"): "tanh_forward,tanh_backward_no_dout",
    ("tanh", "function_of_dout"): "tanh_forward,tanh_backward_of_dout",
    ("tanh", "derivative_at_input"): "tanh_forward_keep_x,tanh_backward_at_input",
    ("tanh", "derivative_of_output"): "tanh_forward,tanh_backward_of_output",
    ("conv", "kernel_flipped"): "conv_forward_naive,conv_backward_kernel_flipped",
    ("conv", "padding_not_cropped"): "conv_forward_naive,conv_backward_padding_not_cropped",
    ("conv", "stride_ignored"): "conv_forward_naive,conv_backward_stride_ignored",
    ("conv", "db_not_summed_over_positions"): "conv_forward_naive,conv_backward_db_not_summed",
    ("max_pool", "spread_over_window"): "max_pool_forward_naive,max_pool_backward_spread",
    ("max_pool", "ties_double_counted"): (
        "max_pool_forward_naive,max_pool_backward_ties_double_counted"
    ),
    ("max_pool", "copied_to_every_element"): "max_pool_forward_naive,max_pool_backward_copied",
    ("avg_pool", "not_divided"): "avg_pool_forward_naive,avg_pool_backward_not_divided",
    ("avg_pool", "routed_to_the_maximum"): "avg_pool_forward_naive,avg_pool_backward_to_maximum",
    ("batchnorm", "statistics_constant"): "batchnorm_forward,batchnorm_backward_constant",
    ("batchnorm", "xhat_term_missing"): "batchnorm_forward,batchnorm_backward_no_xhat",
    ("batchnorm", "variance_over_n_minus_1"): "batchnorm_forward_ddof1,batchnorm_backward_compact",
    ("batchnorm", "dgamma_without_xhat"): "batchnorm_forward,batchnorm_backward_dgamma",
    ("spatial_batchnorm", "statistics_constant"): (
        "spatial_batchnorm_forward,spatial_batchnorm_backward_constant"
    ),
    ("spatial_batchnorm", "xhat_term_missing"): (
        "spatial_batchnorm_forward,spatial_batchnorm_backward_no_xhat"
    ),
    ("spatial_batchnorm", "variance_over_n_minus_1"): (
        "spatial_batchnorm_forward_ddof1,spatial_batchnorm_backward_compact"
    ),
    ("spatial_batchnorm", "dgamma_without_xhat"): (
        "spatial_batchnorm_forward,spatial_batchnorm_backward_dgamma"
    ),
    ("spatial_batchnorm", "reshaped_without_transpose"): (
        "spatial_batchnorm_forward_no_transpose,spatial_batchnorm_backward_no_transpose"
    ),
    ("layernorm", "statistics_constant"): "layernorm_forward,layernorm_backward_constant",
    ("layernorm", "xhat_term_missing"): "layernorm_forward,layernorm_backward_no_xhat",
    ("layernorm", "variance_over_n_minus_1"): "layernorm_forward_ddof1,layernorm_backward_compact",
    ("layernorm", "dgamma_without_xhat"): "layernorm_forward,layernorm_backward_dgamma",
    ("layernorm", "normalised_over_the_batch"): (
        "layernorm_forward_over_batch,layernorm_backward_over_batch"
    ),
    ("groupnorm", "statistics_constant"): (
        "spatial_groupnorm_forward,spatial_groupnorm_backward_constant"
    ),
    (
        "groupnorm",
        "xhat_term_missing",
    ): "spatial_groupnorm_forward,spatial_groupnorm_backward_no_xhat",
    ("groupnorm", "variance_over_n_minus_1"): (
        "spatial_groupnorm_forward_ddof1,spatial_groupnorm_backward_compact"
    ),
    (
        "groupnorm",
        "dgamma_without_xhat",
    ): "spatial_groupnorm_forward,spatial_groupnorm_backward_dgamma",
    ("groupnorm", "statistics_per_channel"): (
        "spatial_groupnorm_forward_per_channel,spatial_groupnorm_backward_compact"
    ),
    ("groupnorm", "statistics_over_all_channels"): (
        "spatial_groupnorm_forward_all_channels,spatial_groupnorm_backward_compact"
    ),
    ("dropout", "mask_not_applied"): "dropout_forward,dropout_backward_mask_not_applied",
    ("dropout", "not_scaled"): "dropout_forward_not_scaled,dropout_backward_not_scaled",
    (
        "dropout",
        "p_as_drop_probability",
    ): "dropout_forward_drop_probability,dropout_backward_not_scaled",
    ("dropout", "dropped_in_test_mode"): (
        "dropout_forward_test_mode_dropped,dropout_backward_test_mode_dropped"
    ),
    ("softmax_loss", "mean_missing"): "softmax_loss_no_mean",
    ("softmax_loss", "onehot_not_subtracted"): "softmax_loss_onehot_kept",
    ("svm_loss", "mean_missing"): "svm_loss_no_mean",
    ("svm_loss", "correct_class_counted"): "svm_loss_correct_class_counted",
    ("svm_loss", "margin_delta_missing"): "svm_loss_no_delta",
    ("temporal_softmax_loss", "mask_ignored"): "temporal_softmax_loss_mask_ignored",
    ("temporal_softmax_loss", "mean_over_n_times_t"): "temporal_softmax_loss_over_nt",
    ("temporal_softmax_loss", "mean_missing"): "temporal_softmax_loss_no_mean",
    ("rnn_step", "derivative_at_pre_activation"): (
        "rnn_step_forward_keep_a,rnn_step_backward_at_pre_activation"
    ),
    ("rnn_step", "derivative_missing"): "rnn_step_forward,rnn_step_backward_no_derivative",
    ("rnn_step", "weights_swapped"): "rnn_step_forward,rnn_step_backward_weights_swapped",
    ("lstm_step", "gates_ifgo"): "lstm_step_forward_ifgo,lstm_step_backward_ordered",
    ("lstm_step", "gates_fiog"): "lstm_step_forward_fiog,lstm_step_backward_ordered",
    ("lstm_step", "derivative_at_cell_state"): "lstm_step_forward,lstm_step_backward_at_cell_state",
    ("lstm_step", "dnext_c_dropped"): "lstm_step_forward,lstm_step_backward_dnext_c_dropped",
    ("word_embedding", "repeats_overwritten"): (
        "word_embedding_forward,word_embedding_backward_overwritten"
    ),
    ("temporal_affine", "dx_not_reshaped"): (
        "temporal_affine_forward,temporal_affine_backward_not_reshaped"
    ),
    ("temporal_affine", "sum_over_batch_only"): (
        "temporal_affine_forward,temporal_affine_backward_first_step"
    ),
    ("temporal_affine", "db_not_summed_over_time"): (
        "temporal_affine_forward,temporal_affine_backward_db_over_batch"
    ),
}

__all__ = [
    "BUGS",
    "affine_forward",
    "avg_pool_forward_naive",
    "batchnorm_forward",
    "conv_forward_naive",
    "dropout_forward",
    "layernorm_forward",
    "leaky_relu_forward",
    "lstm_step_forward",
    "max_pool_forward_naive",
    "relu_forward",
    "rnn_step_forward",
    "sigmoid_forward",
    "spatial_batchnorm_forward",
    "spatial_groupnorm_forward",
    "tanh_forward",
    "temporal_affine_forward",
    "word_embedding_forward",
]
