"""course_lib.execution: FLOPs of a training step, the CPU-or-GPU rule, compile modes."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from course_lib import execution, models
from course_lib.execution import GraphSteps, compiled, pick_device, training_flops
from course_lib.i18n import CourseError


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 64), a=st.integers(1, 20), b=st.integers(1, 20), c=st.integers(1, 20))
def test_the_flops_of_an_mlp_step_are_its_matrix_products(n, a, b, c):
    # Forward x W1 and h W2 (2 n a b + 2 n b c); backward the two weight gradients (the same
    # again) and the gradient of h (2 n b c); the input needs no gradient.
    assert training_flops(models.mlp([a, b, c]), torch.randn(n, a)) == n * (4 * a * b + 6 * b * c)


def test_counting_flops_leaves_the_model_untouched():
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 1))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    assert training_flops(net, torch.randn(4, 1, 4, 4)) > 0
    assert all(p.grad is None for p in net.parameters())
    for key, value in net.state_dict().items():
        assert torch.equal(value, before[key]), key  # running statistics too


def test_tiny_steps_go_to_the_cpu_and_larger_ones_to_the_gpu(monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    toy, batch = models.mlp([1, 100, 1]), torch.randn(64, 1)
    assert training_flops(toy, batch) * 45 < 2 * execution.CPU_FLOPS_PER_THREAD * \
        execution.GPU_STEP_SECONDS
    assert pick_device(toy, batch, runs=45, device="cuda") == torch.device("cpu")
    lenet, images = models.LeNet(), torch.randn(64, 1, 28, 28)
    assert pick_device(lenet, images, device="cuda") == torch.device("cuda")
    # Ten times the runs need ten times the CPU threads to stay on the CPU.
    assert pick_device(toy, batch, runs=450, device="cuda") == torch.device("cuda")
    monkeypatch.setattr(torch, "get_num_threads", lambda: 20)
    assert pick_device(toy, batch, runs=450, device="cuda") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device(lenet, images) == torch.device("cpu")  # no GPU, nothing to choose


@pytest.mark.parametrize(("option", "options", "graphs"), [
    (True, {}, False),
    ("default", {"mode": "default"}, False),
    ("reduce-overhead", {"mode": "reduce-overhead"}, True),
    ({"mode": "max-autotune"}, {"mode": "max-autotune"}, True),
    ("max-autotune-no-cudagraphs", {"mode": "max-autotune-no-cudagraphs"}, False),
    ({"backend": "eager"}, {"backend": "eager"}, False),
])
def test_compile_modes_with_cuda_graphs_start_a_step_per_call(monkeypatch, option, options,
                                                              graphs):
    calls, steps = [], []
    monkeypatch.setattr(torch, "compile", lambda net, **kw: calls.append(kw) or net)
    monkeypatch.setattr(torch.compiler, "cudagraph_mark_step_begin", lambda: steps.append(1))
    net = nn.Linear(2, 1)
    module = compiled(net, option, None)
    assert calls == [options]
    assert isinstance(module, GraphSteps) == graphs
    x = torch.randn(3, 2)
    torch.testing.assert_close(module(x), net(x))
    module(x)
    assert len(steps) == (2 if graphs else 0)
    assert compiled(net, False, None) is net


@pytest.mark.parametrize("option", ["fastest", 1, ["default"]])
def test_unknown_compile_options_are_refused(option):
    with pytest.raises(CourseError) as error:
        compiled(nn.Linear(2, 1), option, "sk")
    assert error.value.key == "training.bad_compile"
