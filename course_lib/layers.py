"""Layers from scratch with the CS231n interface, written as the formulas of the slides.

Every layer is a pair of functions::

    out, cache = affine_forward(x, w, b)     # the forward pass keeps what backward needs
    dx, dw, db = affine_backward(dout, cache) # dout = dL/dout, same shape as out

The losses return ``loss, dx`` at once. ``gradcheck`` estimates a gradient by central
differences, and ``rel_error`` compares it with the analytic one::

    dx_num = gradcheck(lambda x: affine_forward(x, w, b)[0], x, dout)
    print_rel_error("dx", dx_num, dx)        # about 1e-10 in float64 when dx is right

Shapes: N examples, D input features, M outputs, C classes or channels, H x W images.
Use float64 for gradient checks: in float32 the central differences are only ~1e-4 exact.
Inputs of the wrong shape, dtype or range raise ``CourseError`` naming the argument, instead
of a broadcast that silently computes something else.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from . import activations
from . import validation as check
from .i18n import CourseError, format_number


def affine_forward(x: Tensor, w: Tensor, b: Tensor) -> tuple[Tensor, tuple]:
    """out = x w + b for x (N, D) or (N, d1, ..., dk) flattened to D = d1 ... dk; w (D, M),
    b (M,); out (N, M)."""
    check.ndim("w", w, (2,), "(D, M)")
    check.shape("b", b, (w.shape[1],))
    features = math.prod(x.shape[1:]) if check.tensor("x", x).dim() >= 2 else -1
    if features != w.shape[0]:
        raise CourseError("layers.affine_mismatch", x=tuple(x.shape), w=tuple(w.shape))
    out = x.reshape(x.shape[0], -1) @ w + b
    return out, (x, w, b)


def affine_backward(dout: Tensor, cache: tuple) -> tuple[Tensor, Tensor, Tensor]:
    """dx = dout w^T (reshaped to x's shape), dw = x^T dout, db = sum over N of dout."""
    x, w, _ = cache
    check.shape("dout", dout, (x.shape[0], w.shape[1]))
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T @ dout
    return dx, dw, dout.sum(dim=0)


def relu_forward(x: Tensor) -> tuple[Tensor, Tensor]:
    """out = max(0, x), any shape."""
    return activations.relu(x), x


def relu_backward(dout: Tensor, cache: Tensor) -> Tensor:
    """dx = dout * [x > 0]: the gradient passes where the input was positive."""
    check.same_shape("dout", dout, "cache", cache)
    return dout * (cache > 0)


def sigmoid_forward(x: Tensor) -> tuple[Tensor, Tensor]:
    """out = 1 / (1 + e^(-x)), any shape; the cache is the output."""
    out = activations.sigmoid(x)
    return out, out


def sigmoid_backward(dout: Tensor, cache: Tensor) -> Tensor:
    """dx = dout * out (1 - out)."""
    check.same_shape("dout", dout, "cache", cache)
    return dout * cache * (1 - cache)


def tanh_forward(x: Tensor) -> tuple[Tensor, Tensor]:
    """out = tanh(x), any shape; the cache is the output."""
    out = activations.tanh(x)
    return out, out


def tanh_backward(dout: Tensor, cache: Tensor) -> Tensor:
    """dx = dout * (1 - out^2)."""
    check.same_shape("dout", dout, "cache", cache)
    return dout * (1 - cache**2)


def softmax_loss(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Softmax cross-entropy, averaged over the batch: x (N, C) scores, y (N,) class indices.

    p_ic = e^(x_ic) / sum_k e^(x_ik),  L = -(1/N) sum_i log p_(i, y_i),
    dL/dx_ic = (p_ic - [c = y_i]) / N.   Returns the loss (scalar tensor) and dx (N, C).
    """
    check.ndim("x", x, (2,), "(N, C)")
    check.shape("y", y, (x.shape[0],))
    check.class_indices("y", y, x.shape[1])
    n = x.shape[0]
    shifted = x - x.amax(dim=1, keepdim=True)
    log_p = shifted - shifted.exp().sum(dim=1, keepdim=True).log()
    rows = torch.arange(n)
    loss = -log_p[rows, y].mean()
    dx = log_p.exp()
    dx[rows, y] -= 1
    return loss, dx / n


def mse_loss(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Mean squared error over all elements: L = (1/n) sum (x - y)^2, dx = 2 (x - y) / n.

    x and y have the same shape (an (N, 1) prediction against an (N,) target would broadcast
    to (N, N) and compute a different number)."""
    check.same_shape("x", x, "y", y)
    diff = x - y
    return (diff**2).mean(), 2 * diff / diff.numel()


def dropout_forward(x: Tensor, p: float = 0.5, train: bool = True, inverted: bool = True,
                    generator: torch.Generator | None = None) -> tuple[Tensor, Tensor | float]:
    """Dropout: in training, each unit is zeroed with probability ``p`` (as in torch).

    ``p`` is the *drop* probability. The seed slides (CS231n) use ``p`` for the *keep*
    probability instead: their ``p = 0.5`` is ours ``p = 1 - 0.5``. With q = 1 - p to keep:

    - vanilla (``inverted=False``): train out = x * m, m ~ Bernoulli(q); test out = q x,
      so that the test output equals the expected training output;
    - inverted (``inverted=True``, torch's ``F.dropout``): train out = x * m / q; test out = x.

    x any shape. The cache is the factor that multiplied x: the (scaled) mask in training, a
    number at test time.
    """
    check.in_range("p", p, 0, 1, high_open=True)
    q = 1 - p
    if not train:
        factor = 1.0 if inverted else q
        return x * factor, factor
    mask = (torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device) < q)
    mask = mask.to(x.dtype) / q if inverted else mask.to(x.dtype)
    return x * mask, mask


def dropout_backward(dout: Tensor, cache: Tensor | float) -> Tensor:
    """dx = dout * mask: dropped units get no gradient; the same scaling as forward."""
    return dout * cache


def batchnorm_forward(x: Tensor, gamma: Tensor, beta: Tensor, running_mean: Tensor | None,
                      running_var: Tensor | None, train: bool = True, momentum: float = 0.1,
                      eps: float = 1e-5) -> tuple[Tensor, tuple]:
    """Batch normalization, per feature j, for x (N, D) or per channel for x (N, C, H, W).

    Training, over the m = N (or N H W) values of feature j:
        mu_j = (1/m) sum_i x_ij,   sigma_j^2 = (1/m) sum_i (x_ij - mu_j)^2,
        x^_ij = (x_ij - mu_j) / sqrt(sigma_j^2 + eps),   y_ij = gamma_j x^_ij + beta_j,
    and, in place as in torch, running = (1 - momentum) running + momentum batch statistic
    (the variance taken unbiased, times m / (m - 1)). At test time mu and sigma^2 are the
    running statistics. gamma, beta, running_mean, running_var: (D,) or (C,). out: x's shape.
    Training needs m >= 2 values per feature (the variance of one value is 0).
    """
    check.ndim("x", x, (2, 3, 4), "(N, D), (N, C, L) or (N, C, H, W)")
    check.shape("gamma", gamma, (x.shape[1],))
    check.shape("beta", beta, (x.shape[1],))
    for name, stat in (("running_mean", running_mean), ("running_var", running_var)):
        if stat is not None or not train:
            check.shape(name, stat, (x.shape[1],))
    if train and x.numel() // max(x.shape[1], 1) < 2:
        raise CourseError("layers.batch_of_one", shape=tuple(x.shape))
    dims = [0, *range(2, x.dim())]
    shape = [1, -1] + [1] * (x.dim() - 2)
    if train:
        mean, var = x.mean(dim=dims), x.var(dim=dims, correction=0)
        if running_mean is not None:
            m = x.numel() // x.shape[1]
            running_mean.mul_(1 - momentum).add_(momentum * mean)
            running_var.mul_(1 - momentum).add_(momentum * var * m / (m - 1))
    else:
        mean, var = running_mean, running_var
    inv_std = (var + eps).rsqrt().reshape(shape)
    x_hat = (x - mean.reshape(shape)) * inv_std
    out = gamma.reshape(shape) * x_hat + beta.reshape(shape)
    return out, (x_hat, gamma.reshape(shape), inv_std, dims, train)


def batchnorm_backward(dout: Tensor, cache: tuple) -> tuple[Tensor, Tensor, Tensor]:
    """dgamma_j = sum_i dout_ij x^_ij, dbeta_j = sum_i dout_ij, and in training

        dx_ij = gamma_j / (m sqrt(sigma_j^2 + eps))
                * (m dout_ij - sum_k dout_kj - x^_ij sum_k dout_kj x^_kj)

    (mu and sigma^2 depend on every x_kj); at test time simply dx = dout gamma / sqrt(var + eps).
    """
    x_hat, gamma, inv_std, dims, train = cache
    check.same_shape("dout", dout, "x", x_hat)
    dgamma, dbeta = (dout * x_hat).sum(dim=dims), dout.sum(dim=dims)
    if not train:
        return dout * gamma * inv_std, dgamma, dbeta
    m = dout.numel() // dout.shape[1]
    dx = gamma * inv_std / m * (
        m * dout - dout.sum(dim=dims, keepdim=True)
        - x_hat * (dout * x_hat).sum(dim=dims, keepdim=True)
    )
    return dx, dgamma, dbeta


def _normalized_backward(dx_hat: Tensor, x_hat: Tensor, inv_std: Tensor, dims) -> Tensor:
    """dx of x^ = (x - mu) / sqrt(sigma^2 + eps), mu and sigma^2 over the m values in dims:

        dx = 1 / (m sqrt(sigma^2 + eps)) * (m dx^ - sum dx^ - x^ sum(dx^ x^)).
    """
    m = math.prod(x_hat.shape[d] for d in dims)
    return inv_std / m * (
        m * dx_hat - dx_hat.sum(dim=dims, keepdim=True)
        - x_hat * (dx_hat * x_hat).sum(dim=dims, keepdim=True)
    )


def layernorm_forward(x: Tensor, gamma: Tensor, beta: Tensor,
                      eps: float = 1e-5) -> tuple[Tensor, tuple]:
    """Layer normalization: each example i on its own, over all its m = D (or C H W) values:

        mu_i = (1/m) sum_j x_ij,   sigma_i^2 = (1/m) sum_j (x_ij - mu_i)^2,
        y_ij = gamma_j (x_ij - mu_i) / sqrt(sigma_i^2 + eps) + beta_j.

    x: (N, D) or (N, C, H, W); gamma, beta: x.shape[1:] (one per value, as
    ``torch.nn.LayerNorm(x.shape[1:])``). The same in training and at test time, and it works
    for a batch of one: no statistic crosses examples.
    """
    check.ndim("x", x, (2, 3, 4), "(N, D), (N, C, L) or (N, C, H, W)")
    check.shape("gamma", gamma, tuple(x.shape[1:]))
    check.shape("beta", beta, tuple(x.shape[1:]))
    dims = tuple(range(1, x.dim()))
    mean, var = x.mean(dim=dims, keepdim=True), x.var(dim=dims, correction=0, keepdim=True)
    inv_std = (var + eps).rsqrt()
    x_hat = (x - mean) * inv_std
    return gamma * x_hat + beta, (x_hat, gamma, inv_std)


def layernorm_backward(dout: Tensor, cache: tuple) -> tuple[Tensor, Tensor, Tensor]:
    """dgamma = sum_i dout_i x^_i, dbeta = sum_i dout_i; dx per example with dx^ = dout gamma."""
    x_hat, gamma, inv_std = cache
    check.same_shape("dout", dout, "x", x_hat)
    dims = tuple(range(1, x_hat.dim()))
    dx = _normalized_backward(dout * gamma, x_hat, inv_std, dims)
    return dx, (dout * x_hat).sum(dim=0), dout.sum(dim=0)


def groupnorm_forward(x: Tensor, gamma: Tensor, beta: Tensor, groups: int,
                      eps: float = 1e-5) -> tuple[Tensor, tuple]:
    """Group normalization: the C channels split into G groups of C/G; each example and group
    is normalized over its m = (C/G) H W values, then scaled and shifted per channel c:

        y_nc.. = gamma_c (x_nc.. - mu_ng) / sqrt(sigma_ng^2 + eps) + beta_c,   c in group g.

    x: (N, C), (N, C, L) or (N, C, H, W); gamma, beta: (C,). G = 1 normalizes like layer norm
    (but with per-channel gamma, beta); G = C is instance normalization. Like
    ``torch.nn.functional.group_norm``; works for a batch of one.
    """
    check.ndim("x", x, (2, 3, 4), "(N, C), (N, C, L) or (N, C, H, W)")
    groups = check.positive_int("groups", groups)
    channels = x.shape[1]
    if channels % groups:
        raise CourseError("layers.groups_mismatch", groups=groups, channels=channels)
    check.shape("gamma", gamma, (channels,))
    check.shape("beta", beta, (channels,))
    xg = x.reshape(x.shape[0], groups, -1)
    mean, var = xg.mean(dim=2, keepdim=True), xg.var(dim=2, correction=0, keepdim=True)
    inv_std = (var + eps).rsqrt()
    x_hat = ((xg - mean) * inv_std).reshape(x.shape)
    shape = [1, -1] + [1] * (x.dim() - 2)
    out = gamma.reshape(shape) * x_hat + beta.reshape(shape)
    return out, (x_hat, gamma.reshape(shape), inv_std, groups)


def groupnorm_backward(dout: Tensor, cache: tuple) -> tuple[Tensor, Tensor, Tensor]:
    """dgamma_c, dbeta_c sum over examples and positions; dx per (example, group)."""
    x_hat, gamma, inv_std, groups = cache
    check.same_shape("dout", dout, "x", x_hat)
    dims = [0, *range(2, dout.dim())]
    dgamma, dbeta = (dout * x_hat).sum(dim=dims), dout.sum(dim=dims)
    n = dout.shape[0]
    dx = _normalized_backward((dout * gamma).reshape(n, groups, -1),
                              x_hat.reshape(n, groups, -1), inv_std, (2,))
    return dx.reshape(dout.shape), dgamma, dbeta


def conv_forward_naive(x: Tensor, w: Tensor, b: Tensor, stride: int = 1,
                       pad: int = 0) -> tuple[Tensor, tuple]:
    """2-D convolution (cross-correlation, as in torch) straight from the definition:

        out[n, f, r, c] = b[f] + sum_{ch, i, j} w[f, ch, i, j] xp[n, ch, r s + i, c s + j]

    with xp = x zero-padded by ``pad`` on each side and s = ``stride``. x (N, C, H, W),
    w (F, C, HH, WW), b (F,); out (N, F, H', W'), H' = 1 + (H + 2 pad - HH) // s, likewise W'.
    The loop runs over the HH x WW filter taps; each tap is one product over the channels.
    """
    check.ndim("x", x, (4,), "(N, C, H, W)")
    check.ndim("w", w, (4,), f"(F, {x.shape[1]}, HH, WW)")
    check.shape("b", b, (w.shape[0],))
    check.positive_int("stride", stride)
    check.non_negative_int("pad", pad)
    n, c, h, wd = x.shape
    f, _, hh, ww = w.shape
    if w.shape[1] != c or hh > h + 2 * pad or ww > wd + 2 * pad:
        raise CourseError("layers.conv_mismatch", x=tuple(x.shape), w=tuple(w.shape), pad=pad)
    xp = _zero_pad(x, pad)
    h_out, w_out = 1 + (h + 2 * pad - hh) // stride, 1 + (wd + 2 * pad - ww) // stride
    out = b.reshape(1, f, 1, 1).expand(n, f, h_out, w_out).clone()
    for i in range(hh):
        for j in range(ww):
            window = xp[:, :, i:i + stride * h_out:stride, j:j + stride * w_out:stride]
            out += torch.einsum("nchw,fc->nfhw", window, w[:, :, i, j])
    return out, (x, w, b, stride, pad)


def conv_backward_naive(dout: Tensor, cache: tuple) -> tuple[Tensor, Tensor, Tensor]:
    """For each tap (i, j): dw[:, :, i, j] = sum_{n,r,c} dout[n, :, r, c] xp[n, :, r s + i, c s + j]
    and dxp[n, :, r s + i, c s + j] += sum_f dout[n, f, r, c] w[f, :, i, j]; db = sum of dout
    over n, r, c. dx is dxp without the padding. Shapes as in ``conv_forward_naive``."""
    x, w, _, stride, pad = cache
    h, wd = x.shape[2:]
    h_out = 1 + (h + 2 * pad - w.shape[2]) // stride
    w_out = 1 + (wd + 2 * pad - w.shape[3]) // stride
    check.shape("dout", dout, (x.shape[0], w.shape[0], h_out, w_out))
    xp = _zero_pad(x, pad)
    dxp, dw = torch.zeros_like(xp), torch.zeros_like(w)
    for i in range(w.shape[2]):
        for j in range(w.shape[3]):
            taps = (slice(None), slice(None), slice(i, i + stride * h_out, stride),
                    slice(j, j + stride * w_out, stride))
            dw[:, :, i, j] = torch.einsum("nfhw,nchw->fc", dout, xp[taps])
            dxp[taps] += torch.einsum("nfhw,fc->nchw", dout, w[:, :, i, j])
    return dxp[:, :, pad:pad + h, pad:pad + wd], dw, dout.sum(dim=(0, 2, 3))


def _zero_pad(x: Tensor, pad: int) -> Tensor:
    """x (N, C, H, W) -> (N, C, H + 2 pad, W + 2 pad) with zeros around."""
    n, c, h, w = x.shape
    xp = x.new_zeros(n, c, h + 2 * pad, w + 2 * pad)
    xp[:, :, pad:pad + h, pad:pad + w] = x
    return xp


def conv_output_size(size: int, kernel: int, stride: int = 1, pad: int = 0) -> int:
    """Output length of a convolution or pooling along one axis:

        out = 1 + (size + 2 pad - kernel) // stride

    e.g. 32 with a 3 x 3 filter, stride 1, pad 1 -> 32; with stride 2 -> 16."""
    for name, value in (("size", size), ("kernel", kernel), ("stride", stride)):
        check.positive_int(name, value)
    check.non_negative_int("pad", pad)
    if kernel > size + 2 * pad:
        raise CourseError("layers.kernel_too_large", kernel=kernel, size=size, pad=pad)
    return 1 + (size + 2 * pad - kernel) // stride


def im2col(x: Tensor, hh: int, ww: int, stride: int = 1, pad: int = 0) -> Tensor:
    """The patches the filter sees, one column per output position:

        cols[n, (ch, i, j), (r, c)] = xp[n, ch, r s + i, c s + j]

    x (N, C, H, W) -> cols (N, C HH WW, H' W'), the layout of ``torch.nn.functional.unfold``."""
    check.ndim("x", x, (4,), "(N, C, H, W)")
    h_out = conv_output_size(x.shape[2], hh, stride, pad)
    w_out = conv_output_size(x.shape[3], ww, stride, pad)
    patches = _zero_pad(x, pad).unfold(2, hh, stride).unfold(3, ww, stride)  # N C H' W' HH WW
    n, c = x.shape[:2]
    return patches.permute(0, 1, 4, 5, 2, 3).reshape(n, c * hh * ww, h_out * w_out)


def conv_forward_im2col(x: Tensor, w: Tensor, b: Tensor, stride: int = 1,
                        pad: int = 0) -> Tensor:
    """The same convolution as ``conv_forward_naive`` as one matrix product:

        out = w.reshape(F, C HH WW) @ im2col(x) + b,   reshaped to (N, F, H', W')

    Shapes as in ``conv_forward_naive``. This is how libraries turn a convolution into a GEMM."""
    check.ndim("x", x, (4,), "(N, C, H, W)")
    check.ndim("w", w, (4,), f"(F, {x.shape[1]}, HH, WW)")
    check.shape("b", b, (w.shape[0],))
    if w.shape[1] != x.shape[1]:
        raise CourseError("layers.conv_mismatch", x=tuple(x.shape), w=tuple(w.shape), pad=pad)
    f, _, hh, ww = w.shape
    cols = im2col(x, hh, ww, stride, pad)
    h_out = conv_output_size(x.shape[2], hh, stride, pad)
    out = w.reshape(f, -1) @ cols + b.reshape(1, f, 1)
    return out.reshape(x.shape[0], f, h_out, -1)


def _pool(x: Tensor, kernel: int, stride: int | None, pad: int, fill: float) -> Tensor:
    """Windows (N, C, H', W', k k) of x padded with ``fill``; stride defaults to kernel."""
    check.ndim("x", x, (4,), "(N, C, H, W)")
    check.positive_int("kernel", kernel)
    stride = kernel if stride is None else check.positive_int("stride", stride)
    check.non_negative_int("pad", pad)
    if 2 * pad > kernel:
        raise CourseError("layers.pool_pad", pad=pad, kernel=kernel)
    n, c, h, w = x.shape
    xp = x.new_full((n, c, h + 2 * pad, w + 2 * pad), fill)
    xp[:, :, pad:pad + h, pad:pad + w] = x
    for size in (h, w):
        conv_output_size(size, kernel, stride, pad)  # raises if the window does not fit
    windows = xp.unfold(2, kernel, stride).unfold(3, kernel, stride)
    return windows.reshape(*windows.shape[:4], kernel * kernel)


def max_pool_forward(x: Tensor, kernel: int, stride: int | None = None, pad: int = 0) -> Tensor:
    """out[n, ch, r, c] = max over the k x k window at (r s, c s) of x padded with -inf,
    as ``torch.nn.functional.max_pool2d``. x (N, C, H, W) -> (N, C, H', W'), H' as for a
    convolution; stride defaults to the kernel size (windows that do not overlap)."""
    return _pool(x, kernel, stride, pad, float("-inf")).amax(dim=-1)


def avg_pool_forward(x: Tensor, kernel: int, stride: int | None = None, pad: int = 0) -> Tensor:
    """out[n, ch, r, c] = mean over the k x k window of x padded with zeros (the zeros count,
    as in ``torch.nn.functional.avg_pool2d`` with its default ``count_include_pad=True``)."""
    return _pool(x, kernel, stride, pad, 0.0).mean(dim=-1)


def receptive_field(kernels: list[int], strides: list[int]) -> list[int]:
    """Receptive field r_l of one output pixel of layer l on the input, for layers with
    kernel sizes k_l and strides s_l (convolutions and poolings alike):

        r_0 = 1,   r_l = r_{l-1} + (k_l - 1) * s_1 * ... * s_{l-1}

    e.g. three 3 x 3 convolutions with stride 1 see 7 x 7 pixels: [3, 5, 7]."""
    check.same_length("kernels", kernels, "strides", strides)
    fields, r, jump = [], 1, 1
    for k, s in zip(kernels, strides, strict=True):
        check.positive_int("kernel", k)
        check.positive_int("stride", s)
        r += (k - 1) * jump
        jump *= s
        fields.append(r)
    return fields


def gradcheck(f: Callable[[Tensor], Tensor], x: Tensor, df: Tensor | None = None,
              h: float = 1e-6) -> Tensor:
    """Numerical gradient of sum(f(x) * df) with respect to x by central differences:

        grad[k] = (sum(f(x + h e_k) df) - sum(f(x - h e_k) df)) / (2 h)

    ``df`` is the upstream gradient dout (omit it when f returns a scalar). ``x`` is changed in
    place one entry at a time and restored, so ``f`` must read x when called, e.g.
    ``lambda x: affine_forward(x, w, b)[0]``. Costs 2 calls of f per entry of x. ``x`` must be
    a floating-point tensor (an integer one cannot hold x + h), best float64; ``df`` has the
    shape of ``f(x)``.
    """
    check.floating("x", x)
    check.in_range("h", h, 0, None, low_open=True)
    if df is not None:
        check.same_shape("df", df, "f(x)", f(x))
    df = torch.ones(()) if df is None else df
    grad = torch.zeros_like(x)
    flat, grad_flat = x.view(-1), grad.view(-1)
    for k in range(flat.numel()):
        old = flat[k].item()
        flat[k] = old + h
        plus = (f(x) * df).sum().item()
        flat[k] = old - h
        minus = (f(x) * df).sum().item()
        flat[k] = old
        grad_flat[k] = (plus - minus) / (2 * h)
    return grad


def rel_error(a: Tensor, b: Tensor) -> float:
    """max |a - b| / max(1e-8, |a| + |b|), elementwise: ~1e-7 or less means the same gradient."""
    return ((a - b).abs() / (a.abs() + b.abs()).clamp_min(1e-8)).max().item()


def print_rel_error(name: str, a: Tensor, b: Tensor) -> float:
    """Print ``name: rel_error = ...`` as in the CS231n notebooks, the number in the course's
    language (``1,63e-15`` in sk, sr and ru), and return the error."""
    err = rel_error(a, b)
    print(f"{name}: rel_error = {format_number(err, '.2e')}")
    return err
