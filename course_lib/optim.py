r"""Optimizers written as the update rules of the lecture (CS231n, "Training neural networks II").

Each class is a ``torch.optim.Optimizer`` with torch's name, arguments, defaults, ValueError
messages and state keys: ``course_lib.optim.Adam`` drops into any loop written for
``torch.optim.Adam``, and checkpoints move between the two in both directions. ``step`` is one
plain loop over the parameters that updates each tensor in place with the formula of the class
docstring; the results equal torch's ``foreach=False`` implementation up to rounding.
(torch's implementation switches ``foreach``, ``fused``, ``capturable`` and ``differentiable``
are not accepted.)

Notation: every state tensor has the shape of its parameter θ and every operation is
elementwise; γ is the learning rate, λ the weight decay, t = 1, 2, ... the step number, and

    g_t = ∇f(θ_{t-1}) + λ θ_{t-1}        (∇f negated first when ``maximize=True``)

The pure functions ``sgd_momentum_step`` and ``adam_step`` are the reference solutions of the
notebook exercises: they return new tensors and change nothing in place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import Tensor
from torch.optim import Optimizer

__all__ = ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "sgd_momentum_step", "adam_step"]


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _is_pair(value) -> bool:
    """Two real numbers, e.g. ``betas=(0.9, 0.999)`` (torch fails on ``(0.9,)`` with an
    IndexError; we raise its kind of ValueError)."""
    try:
        return len(value) == 2 and all(isinstance(float(v), float) for v in value)
    except (TypeError, ValueError):
        return False


def _closure_loss(closure: Callable[[], Tensor] | None) -> Tensor | None:
    """The loss of ``closure`` (which recomputes the gradients), or None without one."""
    if closure is None:
        return None
    with torch.enable_grad():
        return closure()


def _with_grad(group: dict) -> Iterator[Tensor]:
    """The parameters of a group that received a gradient; the others are left untouched."""
    return (p for p in group["params"] if p.grad is not None)


def _gradient(p: Tensor, maximize: bool, weight_decay: float) -> Tensor:
    """g_t = ±∇f(θ_{t-1}) + λ θ_{t-1}. Never change it in place: it may be ``p.grad`` itself."""
    g = -p.grad if maximize else p.grad
    return g.add(p, alpha=weight_decay) if weight_decay != 0 else g


def _next_step(state: dict) -> int:
    """t ← t + 1. torch's checkpoints hold t as a 0-dim tensor, ours as an int: both load."""
    state["step"] = int(state["step"]) + 1
    return state["step"]


class SGD(Optimizer):
    r"""Stochastic gradient descent, optionally with momentum (heavy ball or Nesterov).

    The slide: x_{t+1} = x_t - α ∇f(x_t); with momentum ρ ("friction", typically 0.9 or 0.99)
    v_{t+1} = ρ v_t + ∇f(x_t) and x_{t+1} = x_t - α v_{t+1}. With γ = α, μ = ρ and the
    dampening τ, per parameter tensor θ:

        b_1 = g_1,   b_t = μ b_{t-1} + (1 - τ) g_t        (momentum buffer, only if μ ≠ 0)
        d_t = g_t + μ b_t  (nesterov),   b_t  (μ ≠ 0),   g_t  (μ = 0)
        θ_t = θ_{t-1} - γ d_t

    State per parameter: ``momentum_buffer`` = b_t (when μ ≠ 0).
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False):
        _require(lr >= 0.0, f"Invalid learning rate: {lr}")
        _require(momentum >= 0.0, f"Invalid momentum value: {momentum}")
        _require(weight_decay >= 0.0, f"Invalid weight_decay value: {weight_decay}")
        _require(not nesterov or (momentum > 0 and dampening == 0),
                 "Nesterov momentum requires a momentum and zero dampening")
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening,
                    "weight_decay": weight_decay, "nesterov": nesterov, "maximize": maximize}
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        """One update of every parameter that has a gradient; returns the closure's loss."""
        loss = _closure_loss(closure)
        for group in self.param_groups:
            lr, mu, tau = group["lr"], group["momentum"], group["dampening"]
            for p in _with_grad(group):
                d = g = _gradient(p, group["maximize"], group["weight_decay"])
                if mu != 0:
                    state = self.state[p]
                    if "momentum_buffer" not in state:
                        state["momentum_buffer"] = g.clone()                  # b_1 = g_1
                    else:
                        state["momentum_buffer"].mul_(mu).add_(g, alpha=1 - tau)
                    b = state["momentum_buffer"]
                    d = g.add(b, alpha=mu) if group["nesterov"] else b
                p.add_(d, alpha=-lr)                                          # θ -= γ d
        return loss


class Adagrad(Optimizer):
    r"""AdaGrad: each coordinate's step is divided by the root of its summed squared gradients.

    The slide: grad_squared += dx * dx; x -= learning_rate * dx / (sqrt(grad_squared) + eps).
    With the initial accumulator G_0 and the learning-rate decay η, per parameter tensor θ:

        G_t = G_{t-1} + g_t²                      (elementwise square)
        γ_t = γ / (1 + (t - 1) η)
        θ_t = θ_{t-1} - γ_t g_t / (√G_t + ε)

    The effective learning rate γ_t / (√G_t + ε) of every coordinate only ever shrinks.
    State per parameter: ``step`` = t, ``sum`` = G_t.
    """

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10, *, maximize: bool = False):
        _require(lr >= 0.0, f"Invalid learning rate: {lr}")
        _require(lr_decay >= 0.0, f"Invalid lr_decay value: {lr_decay}")
        _require(weight_decay >= 0.0, f"Invalid weight_decay value: {weight_decay}")
        _require(initial_accumulator_value >= 0.0,
                 f"Invalid initial_accumulator_value value: {initial_accumulator_value}")
        _require(eps >= 0.0, f"Invalid epsilon value: {eps}")
        defaults = {"lr": lr, "lr_decay": lr_decay, "eps": eps, "weight_decay": weight_decay,
                    "initial_accumulator_value": initial_accumulator_value,
                    "maximize": maximize}
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        """One update of every parameter that has a gradient; returns the closure's loss."""
        loss = _closure_loss(closure)
        for group in self.param_groups:
            for p in _with_grad(group):
                g = _gradient(p, group["maximize"], group["weight_decay"])
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["sum"] = torch.full_like(p, group["initial_accumulator_value"])
                t = _next_step(state)
                G = state["sum"].addcmul_(g, g)                               # G += g²
                lr_t = group["lr"] / (1 + (t - 1) * group["lr_decay"])
                p.addcdiv_(g, G.sqrt().add_(group["eps"]), value=-lr_t)
        return loss


class RMSprop(Optimizer):
    r"""RMSProp: AdaGrad with a leaky (exponentially decaying) sum of squared gradients.

    The slide: grad_squared = decay_rate * grad_squared + (1 - decay_rate) * dx * dx, then the
    AdaGrad step. With decay_rate = α and the momentum μ, per parameter tensor θ:

        s_t = α s_{t-1} + (1 - α) g_t²                      (mean of g², ``square_avg``)
        a_t = α a_{t-1} + (1 - α) g_t                       (mean of g, only if centered)
        σ_t = √(s_t - a_t²)  (centered)   or   √s_t
        b_t = μ b_{t-1} + g_t / (σ_t + ε)                   (only if μ > 0)
        θ_t = θ_{t-1} - γ b_t  (μ > 0)   or   θ_{t-1} - γ g_t / (σ_t + ε)

    State per parameter: ``step`` = t, ``square_avg`` = s_t, ``grad_avg`` = a_t (centered),
    ``momentum_buffer`` = b_t (μ > 0). Stricter than torch, α must lie in [0, 1]: with α > 1
    the weight 1 - α of g_t² is negative, s_t turns negative and √s_t NaN.
    """

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False, *,
                 maximize: bool = False):
        _require(lr >= 0.0, f"Invalid learning rate: {lr}")
        _require(eps >= 0.0, f"Invalid epsilon value: {eps}")
        _require(momentum >= 0.0, f"Invalid momentum value: {momentum}")
        _require(weight_decay >= 0.0, f"Invalid weight_decay value: {weight_decay}")
        _require(0.0 <= alpha <= 1.0, f"Invalid alpha value: {alpha}")  # torch: only >= 0
        defaults = {"lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps,
                    "centered": centered, "weight_decay": weight_decay, "maximize": maximize}
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        """One update of every parameter that has a gradient; returns the closure's loss."""
        loss = _closure_loss(closure)
        for group in self.param_groups:
            lr, alpha, mu = group["lr"], group["alpha"], group["momentum"]
            for p in _with_grad(group):
                g = _gradient(p, group["maximize"], group["weight_decay"])
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["square_avg"] = torch.zeros_like(p)
                    if mu > 0:
                        state["momentum_buffer"] = torch.zeros_like(p)
                    if group["centered"]:
                        state["grad_avg"] = torch.zeros_like(p)
                _next_step(state)
                s = state["square_avg"].mul_(alpha).addcmul_(g, g, value=1 - alpha)
                if group["centered"]:
                    a = state["grad_avg"].lerp_(g, 1 - alpha)        # α a + (1 - α) g
                    sigma = s.addcmul(a, a, value=-1).sqrt_()
                else:
                    sigma = s.sqrt()
                denominator = sigma.add_(group["eps"])
                if mu > 0:
                    b = state["momentum_buffer"].mul_(mu).addcdiv_(g, denominator)
                    p.add_(b, alpha=-lr)
                else:
                    p.addcdiv_(g, denominator, value=-lr)
        return loss


class Adam(Optimizer):
    r"""Adam: momentum (first moment) divided by RMSProp's root mean square (second moment).

    The slide "Adam (kompletan)", per parameter tensor θ:

        m_t = β1 m_{t-1} + (1 - β1) g_t            (first moment, ``exp_avg``)
        v_t = β2 v_{t-1} + (1 - β2) g_t²           (second moment, ``exp_avg_sq``)
        v_t ← max(v_{t-1}, v_t)                    (only with amsgrad: ``max_exp_avg_sq``)
        m̂_t = m_t / (1 - β1^t),   v̂_t = v_t / (1 - β2^t)          (bias correction)
        θ_t = θ_{t-1} - γ m̂_t / (√v̂_t + ε)

    Without the bias correction the first steps would be (1 - β1^t) / √(1 - β2^t) times too
    large: 3.2 γ at t = 1 for β = (0.9, 0.999). With ``decoupled_weight_decay=True`` this is
    AdamW (see there). State per parameter: ``step`` = t and the tensors named above.
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, *,
                 maximize: bool = False, decoupled_weight_decay: bool = False):
        _require(lr >= 0.0, f"Invalid learning rate: {lr}")
        _require(eps >= 0.0, f"Invalid epsilon value: {eps}")
        _require(_is_pair(betas), f"Invalid betas: expected a pair (beta1, beta2), got {betas!r}")
        _require(0.0 <= betas[0] < 1.0, f"Invalid beta parameter at index 0: {betas[0]}")
        _require(0.0 <= betas[1] < 1.0, f"Invalid beta parameter at index 1: {betas[1]}")
        _require(weight_decay >= 0.0, f"Invalid weight_decay value: {weight_decay}")
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                    "amsgrad": amsgrad, "maximize": maximize,
                    "decoupled_weight_decay": decoupled_weight_decay}
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        """One update of every parameter that has a gradient; returns the closure's loss."""
        loss = _closure_loss(closure)
        for group in self.param_groups:
            lr, (beta1, beta2), wd = group["lr"], group["betas"], group["weight_decay"]
            decoupled = group["decoupled_weight_decay"]
            for p in _with_grad(group):
                if decoupled and wd != 0:
                    p.mul_(1 - lr * wd)                                      # θ -= γ λ θ
                g = _gradient(p, group["maximize"], 0.0 if decoupled else wd)
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                    if group["amsgrad"]:
                        state["max_exp_avg_sq"] = torch.zeros_like(p)
                t = _next_step(state)
                m = state["exp_avg"].lerp_(g, 1 - beta1)                   # β1 m + (1 - β1) g
                v = state["exp_avg_sq"].mul_(beta2).addcmul_(g, g, value=1 - beta2)
                if group["amsgrad"]:
                    v = torch.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
                # m̂ / (√v̂ + ε) = m / (1 - β1^t) / (√v / √(1 - β2^t) + ε)
                denominator = (v.sqrt() / (1 - beta2**t) ** 0.5).add_(group["eps"])
                p.addcdiv_(m, denominator, value=-lr / (1 - beta1**t))
        return loss


class AdamW(Adam):
    r"""AdamW: Adam with weight decay decoupled from the gradient (Loshchilov and Hutter, 2019).

    Before the Adam step of the class ``Adam`` (with g_t = ∇f(θ_{t-1}), no λ θ in it):

        θ_{t-1} ← θ_{t-1} - γ λ θ_{t-1}

    so the decay is not divided by √v̂_t: every weight shrinks by the same factor 1 - γλ.
    Default λ = 0.01 as in torch. State per parameter: as ``Adam``.
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)


def sgd_momentum_step(w: Tensor, dw: Tensor, v: Tensor, lr: float,
                      momentum: float = 0.9) -> tuple[Tensor, Tensor]:
    """One step of SGD with momentum as on the slide; returns new tensors ``(w_new, v_new)``.

        v_new = ρ v + dw
        w_new = w - α v_new

    ``w`` (weights), ``dw`` (their gradient) and ``v`` (velocity, zeros before the first step)
    share one shape; ``lr`` = α, ``momentum`` = ρ. Nothing is changed in place. Started from
    v = 0 it follows ``SGD(params, lr, momentum)`` step for step.
    """
    v_new = momentum * v + dw
    return w - lr * v_new, v_new


def adam_step(w: Tensor, dw: Tensor, m: Tensor, v: Tensor, t: int, lr: float = 1e-3,
              beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8, *,
              bias_correction: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    """Step ``t`` (1, 2, ...) of Adam as on the slide; returns new ``(w_new, m_new, v_new)``.

        m_new = β1 m + (1 - β1) dw
        v_new = β2 v + (1 - β2) dw²
        m̂ = m_new / (1 - β1^t),   v̂ = v_new / (1 - β2^t)
        w_new = w - α m̂ / (√v̂ + ε)

    ``w``, ``dw``, ``m``, ``v`` share one shape (m = v = 0 before step 1). With
    ``bias_correction=False`` m̂ = m_new and v̂ = v_new: the slide's "Adam (skoro)", whose
    first steps are several times larger than α. Nothing is changed in place. Started from
    zeros it follows ``Adam(params, lr, (beta1, beta2), eps)`` step for step.
    """
    _require(t >= 1, f"Adam's step count t starts at 1, got {t}")
    m_new = beta1 * m + (1 - beta1) * dw
    v_new = beta2 * v + (1 - beta2) * dw * dw
    m_hat, v_hat = m_new, v_new
    if bias_correction:
        m_hat, v_hat = m_new / (1 - beta1**t), v_new / (1 - beta2**t)
    return w - lr * m_hat / (v_hat.sqrt() + eps), m_new, v_new
