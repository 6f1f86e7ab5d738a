"""Activation functions, their derivatives written by hand, and a table of their properties.

Every function takes a tensor ``x`` of any shape and works elementwise, except ``softmax``
(along ``dim``) and ``maxout`` (over groups of the last dimension). ``f_grad(x)`` is the
derivative ``f'(x)`` with the shape of ``x``; the chain rule of a layer is then
``dx = dout * f_grad(x)``. Softmax mixes its inputs, so it has a Jacobian instead:
``softmax_jacobian`` returns it whole and ``softmax_grad`` multiplies it with ``dout``.

``PROPERTIES`` holds what a lecture table says about each activation (range, zero-centred,
saturating, dead units) and ``render_properties(lang)`` shows it in a notebook::

    from IPython.display import Markdown
    Markdown(render_properties("sk"))
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from .i18n import CourseError, latex_decimals, t


def sigmoid(x: Tensor) -> Tensor:
    """sigma(x) = 1 / (1 + e^(-x)), range (0, 1).

    Written with z = e^(-|x|) <= 1, so no exponential overflows: sigma(x) = 1 / (1 + z) for
    x >= 0 and z / (1 + z) for x < 0.
    """
    z = torch.exp(-x.abs())
    return torch.where(x >= 0, 1.0, z) / (1 + z)


def sigmoid_grad(x: Tensor) -> Tensor:
    """sigma'(x) = sigma(x) (1 - sigma(x)), at most 1/4 (at x = 0)."""
    s = sigmoid(x)
    return s * (1 - s)


def tanh(x: Tensor) -> Tensor:
    """tanh(x) = (e^x - e^(-x)) / (e^x + e^(-x)) = 2 sigma(2x) - 1, range (-1, 1).

    Computed as sign(x) (1 - e^(-2|x|)) / (1 + e^(-2|x|)), with expm1 for accuracy near 0.
    """
    a = -2 * x.abs()
    return torch.sign(x) * -torch.expm1(a) / (1 + torch.exp(a))


def tanh_grad(x: Tensor) -> Tensor:
    """tanh'(x) = 1 - tanh(x)^2, at most 1 (at x = 0)."""
    return 1 - tanh(x) ** 2


def relu(x: Tensor) -> Tensor:
    """relu(x) = max(0, x)."""
    return torch.clamp_min(x, 0)


def relu_grad(x: Tensor) -> Tensor:
    """relu'(x) = 1 for x > 0, else 0 (torch's choice at x = 0 too)."""
    return (x > 0).to(x.dtype)


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """leaky_relu(x) = x for x > 0, a x otherwise; a = ``negative_slope`` (the seed uses 0.1)."""
    return torch.where(x > 0, x, negative_slope * x)


def leaky_relu_grad(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """leaky_relu'(x) = 1 for x > 0, a otherwise: never 0, so no unit dies."""
    return torch.where(x > 0, 1.0, torch.full_like(x, negative_slope))


def elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """elu(x) = x for x > 0, alpha (e^x - 1) otherwise; range (-alpha, inf)."""
    return torch.where(x > 0, x, alpha * torch.expm1(x))


def elu_grad(x: Tensor, alpha: float = 1.0) -> Tensor:
    """elu'(x) = 1 for x > 0, alpha e^x otherwise."""
    return torch.where(x > 0, 1.0, alpha * torch.exp(x))


def gelu(x: Tensor) -> Tensor:
    """gelu(x) = x Phi(x) = x (1 + erf(x / sqrt 2)) / 2, Phi the normal CDF (the exact form)."""
    return x * _normal_cdf(x)


def gelu_grad(x: Tensor) -> Tensor:
    """gelu'(x) = Phi(x) + x phi(x), phi(x) = e^(-x^2 / 2) / sqrt(2 pi) the normal density."""
    return _normal_cdf(x) + x * torch.exp(-x**2 / 2) / math.sqrt(2 * math.pi)


def _normal_cdf(x: Tensor) -> Tensor:
    return (1 + torch.erf(x / math.sqrt(2))) / 2


def silu(x: Tensor) -> Tensor:
    """silu(x) = x sigma(x), also called swish."""
    return x * sigmoid(x)


def silu_grad(x: Tensor) -> Tensor:
    """silu'(x) = sigma(x) (1 + x (1 - sigma(x)))."""
    s = sigmoid(x)
    return s * (1 + x * (1 - s))


def softmax(x: Tensor, dim: int = -1) -> Tensor:
    """softmax(x)_i = e^(x_i) / sum_j e^(x_j) along ``dim``; outputs in (0, 1) summing to 1.

    Subtracting max_j x_j first changes nothing (it cancels in the ratio) but keeps every
    exponent <= 0, so e^(x_i) cannot overflow even for x_i = 1000.
    """
    e = torch.exp(x - x.amax(dim=dim, keepdim=True))
    return e / e.sum(dim=dim, keepdim=True)


def softmax_jacobian(x: Tensor) -> Tensor:
    """J_ij = d s_i / d x_j = s_i (delta_ij - s_j) for s = softmax(x) over the last dimension.

    x (..., K) -> J (..., K, K); J = diag(s) - s s^T is symmetric.
    """
    s = softmax(x, dim=-1)
    return torch.diag_embed(s) - s.unsqueeze(-1) * s.unsqueeze(-2)


def softmax_grad(x: Tensor, dout: Tensor, dim: int = -1) -> Tensor:
    """dx = J^T dout = s * (dout - sum_j dout_j s_j) along ``dim``: the backward pass of softmax.

    x, dout and dx have the same shape; no K x K Jacobian is built.
    """
    s = softmax(x, dim=dim)
    return s * (dout - (dout * s).sum(dim=dim, keepdim=True))


def maxout(x: Tensor | Sequence[Tensor], k: int | None = None) -> Tensor:
    """maxout(x) = max_j (w_j^T x + b_j): the largest of k linear pieces, elementwise.

    Either ``x`` of shape (..., k*m), where columns [j*m, (j+1)*m) hold piece j (the output of
    one Linear(D, k*m)), or a sequence of k pieces of shape (..., m). Returns (..., m).
    """
    return _maxout_pieces(x, k).max(dim=-2).values


def maxout_grad(x: Tensor | Sequence[Tensor], k: int | None = None) -> Tensor | tuple[Tensor, ...]:
    """d maxout / d x: 1 at the winning piece of each output, 0 elsewhere (same shape as x).

    For a sequence of pieces, a tuple of such masks, one per piece. Ties go to the first piece.
    """
    pieces = _maxout_pieces(x, k)
    mask = torch.zeros_like(pieces).scatter_(-2, pieces.argmax(dim=-2, keepdim=True), 1.0)
    if isinstance(x, Tensor):
        return mask.flatten(-2)
    return tuple(mask.unbind(-2))


def _maxout_pieces(x: Tensor | Sequence[Tensor], k: int | None) -> Tensor:
    """(..., k*m) or k tensors (..., m) -> (..., k, m)."""
    if not isinstance(x, Tensor):
        return torch.stack(list(x), dim=-2)
    if k is None or k < 1 or x.shape[-1] % k:
        raise CourseError("activations.maxout_groups", size=x.shape[-1], k=k)
    return x.unflatten(-1, (k, x.shape[-1] // k))


ACTIVATIONS: dict[str, tuple[Callable[[Tensor], Tensor], Callable[[Tensor], Tensor]]] = {
    "sigmoid": (sigmoid, sigmoid_grad),
    "tanh": (tanh, tanh_grad),
    "relu": (relu, relu_grad),
    "leaky_relu": (leaky_relu, leaky_relu_grad),
    "elu": (elu, elu_grad),
    "gelu": (gelu, gelu_grad),
    "silu": (silu, silu_grad),
}
"""The elementwise activations as ``name -> (f, f_grad)``, with default hyper-parameters."""


@dataclass(frozen=True)
class Properties:
    """What the lecture table says about one activation.

    ``bounds`` are the numbers behind ``range`` (closed, ``inf`` for unbounded). The flags:
    zero_centred - an odd function, so a symmetric input gives mean output 0;
    saturating - f'(x) -> 0 as x -> +inf and as x -> -inf, gradients vanish on both sides;
    dead_units - f'(x) = 0 on a whole half-line, so a unit whose input stays there never learns.
    """

    key: str
    formula: str
    derivative: str
    range: str
    bounds: tuple[float, float]
    zero_centred: bool
    saturating: bool
    dead_units: bool

    def name(self, lang: str | None = None) -> str:
        return t(f"activations.name.{self.key}", lang=lang)

    def when(self, lang: str | None = None) -> str:
        """When to use it, in ``lang``."""
        return t(f"activations.when.{self.key}", lang=lang)


_INF = math.inf
PROPERTIES: dict[str, Properties] = {
    p.key: p
    for p in [
        Properties("sigmoid", r"$\frac{1}{1 + e^{-x}}$", r"$\sigma(x)(1 - \sigma(x))$",
                   "$(0, 1)$", (0.0, 1.0), False, True, False),
        Properties("tanh", r"$\frac{e^x - e^{-x}}{e^x + e^{-x}}$", r"$1 - \tanh^2 x$",
                   "$(-1, 1)$", (-1.0, 1.0), True, True, False),
        Properties("relu", r"$\max(0, x)$", r"$[x > 0]$",
                   r"$[0, \infty)$", (0.0, _INF), False, False, True),
        Properties("leaky_relu", r"$\max(a x, x),\ a = 0.01$", r"$[x > 0] + a\,[x \le 0]$",
                   r"$(-\infty, \infty)$", (-_INF, _INF), False, False, False),
        Properties("elu", r"$x\,[x > 0] + \alpha (e^x - 1)\,[x \le 0]$",
                   r"$[x > 0] + \alpha e^x\,[x \le 0]$",
                   r"$(-\alpha, \infty)$", (-1.0, _INF), False, False, False),
        Properties("maxout", r"$\max_j (w_j^\top x + b_j)$",
                   r"$[j = \arg\max_i (w_i^\top x + b_i)]$",
                   r"$(-\infty, \infty)$", (-_INF, _INF), False, False, False),
        Properties("softmax", r"$\frac{e^{x_i}}{\sum_j e^{x_j}}$", r"$s_i (\delta_{ij} - s_j)$",
                   r"$(0, 1),\ \sum_i s_i = 1$", (0.0, 1.0), False, True, False),
        Properties("gelu", r"$x\,\Phi(x)$", r"$\Phi(x) + x\,\varphi(x)$",
                   r"$[\approx -0.17, \infty)$", (-0.17, _INF), False, False, False),
        Properties("silu", r"$x\,\sigma(x)$", r"$\sigma(x)(1 + x (1 - \sigma(x)))$",
                   r"$[\approx -0.28, \infty)$", (-0.2785, _INF), False, False, False),
    ]
}
"""The lecture table, one row per activation; the formulas are LaTeX for notebook markdown."""

_COLUMNS = ("name", "formula", "derivative", "range", "zero_centred", "saturating", "dead_units",
            "when")


def properties_table(lang: str | None = None) -> list[dict[str, str]]:
    """The table as rows ``{localized column header: cell text}``, one per activation.

    Decimals in the LaTeX cells follow the language (``a = 0{,}01`` in sk, sr, ru).
    """
    yes_no = {True: t("activations.yes", lang=lang), False: t("activations.no", lang=lang)}
    header = {c: t(f"activations.column.{c}", lang=lang) for c in _COLUMNS}
    rows = []
    for p in PROPERTIES.values():
        cells = {
            "name": p.name(lang), "formula": latex_decimals(p.formula, lang),
            "derivative": latex_decimals(p.derivative, lang),
            "range": latex_decimals(p.range, lang), "zero_centred": yes_no[p.zero_centred],
            "saturating": yes_no[p.saturating], "dead_units": yes_no[p.dead_units],
            "when": p.when(lang),
        }
        rows.append({header[c]: cells[c] for c in _COLUMNS})
    return rows


def render_properties(lang: str | None = None, fmt: str = "markdown") -> str:
    """The table as a ``"markdown"`` or ``"html"`` string for ``IPython.display``."""
    rows = properties_table(lang)
    header = list(rows[0])
    if fmt == "markdown":
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(v.replace("|", r"\|") for v in row.values()) + " |"
                  for row in rows]
        return "\n".join(lines)
    if fmt == "html":
        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row.values()) + "</tr>"
            for row in rows
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    raise CourseError("activations.unknown_format", lang=lang, fmt=fmt, known="markdown, html")
