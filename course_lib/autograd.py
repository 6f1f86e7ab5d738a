"""A scalar autograd engine in the style of micrograd, and a drawing of its computation graph.

Each ``Value`` holds a number ``data``, the derivative ``grad`` of the final result with respect
to it, the Values it was computed from (``_prev``) and a ``_backward`` closure that applies the
chain rule for the one operation that produced it::

    a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    L = (a * b + a).tanh()
    L.backward()          # a.grad = dL/da, b.grad = dL/db
    draw(L)

``backward()`` sets ``grad = 1`` on the result and calls every ``_backward`` in reverse
topological order, so a node passes its gradient on only after all its users have added theirs.
Gradients are accumulated with ``+=``: a Value used twice gets both contributions.
Anything that is not a real number, and operations without a real result (``log`` of a
non-positive number, division by 0), raise ``CourseError`` in the student's language.
"""

from __future__ import annotations

import math
import numbers

from .i18n import CourseError, format_number


class CourseTypeError(CourseError, TypeError):
    """A localized error about the type of an argument; still a TypeError, as Python's."""


def _real(name: str, data) -> float:
    """``float(data)`` for a real number (also a NumPy or 0-d torch number), else CourseError."""
    if type(data) is float:  # the common case, kept fast: every operation makes a Value
        return data
    if isinstance(data, numbers.Real) or (hasattr(data, "__float__") and not isinstance(
            data, str | bytes | complex) and getattr(data, "ndim", 0) == 0):
        try:
            return float(data)
        except (TypeError, ValueError):
            pass
    raise CourseTypeError("autograd.bad_data", name=name, value=data, type=type(data).__name__)


class Value:
    """One scalar node of the graph: ``data``, ``grad``, parents ``_prev`` and the op ``_op``."""

    def __init__(self, data: float, _children: tuple[Value, ...] = (), _op: str = "",
                 label: str = ""):
        self.data = _real("data", data)
        self.grad = 0.0
        self._prev = tuple(dict.fromkeys(_children))  # unique, in order: x * x has one parent
        self._op = _op
        self.label = label
        self._backward = lambda: None

    def __repr__(self) -> str:
        return f"Value(data={self.data:.4g}, grad={self.grad:.4g})"

    def __add__(self, other: Value | float) -> Value:
        other = _value(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward():  # d(a + b)/da = d(a + b)/db = 1
            self.grad += out.grad
            other.grad += out.grad
        out._backward = _backward
        return out

    def __mul__(self, other: Value | float) -> Value:
        other = _value(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward():  # d(a b)/da = b, d(a b)/db = a
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = _backward
        return out

    def __sub__(self, other: Value | float) -> Value:
        other = _value(other)
        out = Value(self.data - other.data, (self, other), "-")

        def _backward():  # d(a - b)/da = 1, d(a - b)/db = -1
            self.grad += out.grad
            other.grad -= out.grad
        out._backward = _backward
        return out

    def __truediv__(self, other: Value | float) -> Value:
        other = _value(other)
        if other.data == 0:
            raise CourseError("autograd.zero_division", numerator=self.data)
        out = Value(self.data / other.data, (self, other), "/")

        def _backward():  # d(a / b)/da = 1 / b, d(a / b)/db = -a / b^2
            self.grad += out.grad / other.data
            other.grad -= out.grad * self.data / other.data**2
        out._backward = _backward
        return out

    def __pow__(self, n: float) -> Value:
        if isinstance(n, bool) or not isinstance(n, int | float):
            raise CourseTypeError("autograd.pow_exponent", type=type(n).__name__)
        if (self.data < 0 and n != int(n)) or (self.data == 0 and n < 0):
            raise CourseError("autograd.pow_domain", base=self.data, n=n)
        out = Value(self.data**n, (self,), f"**{n:g}")

        def _backward():  # d(a^n)/da = n a^(n-1)
            self.grad += n * self.data ** (n - 1) * out.grad
        out._backward = _backward
        return out

    def __neg__(self) -> Value:
        out = Value(-self.data, (self,), "neg")

        def _backward():
            self.grad -= out.grad
        out._backward = _backward
        return out

    def __radd__(self, other: float) -> Value:  # 2 + a
        return _value(other) + self

    def __rsub__(self, other: float) -> Value:  # 2 - a
        return _value(other) - self

    def __rmul__(self, other: float) -> Value:  # 2 * a
        return _value(other) * self

    def __rtruediv__(self, other: float) -> Value:  # 2 / a
        return _value(other) / self

    def _unary(self, data: float, op: str, local_grad: float) -> Value:
        """A one-input op whose derivative at this point is ``local_grad``."""
        out = Value(data, (self,), op)

        def _backward():
            self.grad += local_grad * out.grad
        out._backward = _backward
        return out

    def exp(self) -> Value:
        if self.data > 709.78:
            raise CourseError("autograd.overflow", data=self.data)
        e = math.exp(self.data)
        return self._unary(e, "exp", e)  # (e^x)' = e^x

    def log(self) -> Value:
        if self.data <= 0:
            raise CourseError("autograd.log_domain", data=self.data)
        return self._unary(math.log(self.data), "log", 1 / self.data)  # (ln x)' = 1 / x

    def tanh(self) -> Value:
        y = math.tanh(self.data)
        return self._unary(y, "tanh", 1 - y**2)  # tanh' = 1 - tanh^2

    def relu(self) -> Value:
        return self._unary(max(self.data, 0.0), "relu", float(self.data > 0))

    def sigmoid(self) -> Value:
        z = math.exp(-abs(self.data))  # <= 1: no overflow for large |x|
        s = 1 / (1 + z) if self.data >= 0 else z / (1 + z)
        return self._unary(s, "sigmoid", s * (1 - s))  # sigma' = sigma (1 - sigma)

    def backward(self) -> None:
        """Add d self / d leaf to the ``grad`` of every leaf this Value depends on.

        As in torch, leaves accumulate over calls (set ``grad = 0`` to start again), while
        intermediate results start from 0 on every call.
        """
        order = topological_order(self)
        for node in order:
            if node._prev:
                node.grad = 0.0
        self.grad = 1.0
        for node in reversed(order):
            node._backward()


def _value(x: Value | float) -> Value:
    return x if isinstance(x, Value) else Value(_real("other", x))


def topological_order(root: Value) -> list[Value]:
    """Every node ``root`` depends on, each after all of its parents; ``root`` comes last."""
    order, seen, stack = [], set(), [(root, False)]
    while stack:  # depth-first search without recursion, so long chains of ops work too
        v, parents_done = stack.pop()
        if parents_done:
            order.append(v)
        elif v not in seen:
            seen.add(v)
            stack.append((v, True))
            stack.extend((parent, False) for parent in v._prev)
    return order


def draw(root: Value, ax=None):
    """Draw the graph of ``root`` with matplotlib: inputs on the left, ``root`` on the right.

    Each Value is a box ``label | data | grad``; each operation is a circle between the box of
    its result and the boxes of its inputs. A Value's column is its longest distance from
    ``root``. Returns the matplotlib Axes; boxes carry gid "value", circles gid "op".
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch

    nodes = topological_order(root)
    depth = {root: 0}
    for v in reversed(nodes):
        for child in v._prev:
            depth[child] = max(depth.get(child, 0), depth[v] + 1)
    columns: dict[int, list[Value]] = {}
    for v in nodes:
        columns.setdefault(depth[v], []).append(v)
    pos = {v: (-4.0 * d, 1.2 * (i - (len(col) - 1) / 2))
           for d, col in columns.items() for i, v in enumerate(col)}
    n_cols, n_rows = len(columns), max(len(col) for col in columns.values())
    if ax is None:
        fig, ax = plt.subplots(figsize=(2.0 * n_cols, 0.6 * n_rows + 0.6))
        fig.subplots_adjust(0, 0, 1, 1)

    def arrow(start, end):
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=8, lw=0.8,
                                     color="0.4", zorder=1))

    for v in nodes:
        x, y = pos[v]
        ax.add_patch(FancyBboxPatch((x - 0.95, y - 0.4), 1.9, 0.8, boxstyle="round,pad=0.02",
                                    fc="#e8f0fb", ec="#3b6ea8", gid="value", zorder=2))
        label = f"{v.label}\n" if v.label else ""
        data, grad = format_number(v.data, ".4g"), format_number(v.grad, ".4g")
        ax.text(x, y, f"{label}data {data}\ngrad {grad}", ha="center", va="center",
                fontsize=7, zorder=3)
        if v._prev:
            ox = x - 2.0
            ax.add_patch(Circle((ox, y), 0.4, fc="#fdf0d5", ec="#b07a1f", gid="op", zorder=2))
            ax.text(ox, y, v._op, ha="center", va="center", fontsize=7, zorder=3)
            arrow((ox + 0.4, y), (x - 0.95, y))
            for child in v._prev:
                cx, cy = pos[child]
                arrow((cx + 0.95, cy), (ox - 0.4, y))
    ax.set_xlim(-4.0 * (n_cols - 1) - 1.2, 1.2)
    ax.set_ylim(-0.6 * n_rows - 0.2, 0.6 * n_rows + 0.2)
    ax.set_aspect("equal")
    ax.axis("off")
    return ax
