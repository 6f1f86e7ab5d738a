"""The helpers of lecture 11 (training at scale): number formats, loss scaling, simulated
workers, worker batch norm, the linear scaling rule, the interrupted loader, throughput."""

import math

import matplotlib.pyplot as plt
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from course_lib.exercises.scale import scaled_lr, update_scale
from course_lib.lectures import practice, scale

# --- number formats --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype, exponent, mantissa", [
    (torch.float32, 8, 23), (torch.bfloat16, 8, 7), (torch.float16, 5, 10)])
def test_number_format_reads_bits_and_limits_from_finfo(dtype, exponent, mantissa):
    fmt = scale.number_format(dtype)
    info = torch.finfo(dtype)
    assert (fmt.name, fmt.exponent_bits, fmt.mantissa_bits) == (scale.NAMES[dtype], exponent,
                                                                mantissa)
    assert 1 + exponent + mantissa == info.bits
    assert fmt.max == info.max and fmt.smallest_normal == info.smallest_normal
    assert fmt.eps == 2.0**-mantissa
    assert fmt.smallest_subnormal == info.smallest_normal * 2.0**-mantissa
    assert torch.tensor(fmt.smallest_subnormal, dtype=dtype) > 0
    assert torch.tensor(fmt.smallest_subnormal / 2.1, dtype=dtype) == 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_a_cast_rounds_to_0_up_to_half_the_smallest_subnormal_and_to_inf_from_inf_from(dtype):
    fmt = scale.number_format(dtype)
    cast = lambda x: float(torch.tensor(x, dtype=torch.float64).to(dtype))  # noqa: E731
    assert cast(fmt.zero_below) == 0
    assert cast(fmt.zero_below * 1.01) == fmt.smallest_subnormal
    assert cast(fmt.smallest_subnormal * 0.75) == fmt.smallest_subnormal
    assert cast(fmt.inf_from) == float("inf")
    assert cast((fmt.max + fmt.inf_from) / 2) == fmt.max


def test_number_formats_lists_float32_bfloat16_float16():
    assert [f.name for f in scale.number_formats()] == ["float32", "bfloat16", "float16"]


def test_round_trip_keeps_representable_values_and_shows_overflow_and_underflow():
    values = torch.tensor([1.0, 0.5, 65504.0, 1e6, 1e-9], dtype=torch.float64)
    back = scale.round_trip(values, torch.float16)
    assert back.dtype == torch.float64
    assert back[:3].tolist() == [1.0, 0.5, 65504.0]
    assert math.isinf(back[3]) and back[4] == 0
    assert scale.round_trip(torch.tensor([1e-9]), torch.float16, scale=2.0**20).item() == (
        pytest.approx(1e-9, rel=1e-3))


def test_cast_outcome_counts_shares_of_the_nonzero_values():
    values = torch.tensor([0.0, 0.0, 1e-9, 1.0, 1e5, 2.0])
    outcome = scale.cast_outcome(values, torch.float16)
    assert (outcome.zero, outcome.inf, outcome.kept) == (0.25, 0.25, 0.5)
    assert scale.cast_outcome(values, torch.bfloat16).kept == 1.0


def test_hidden_gradient_is_the_closed_form_of_a_one_hidden_layer_mlp():
    torch.manual_seed(0)
    model = practice.digits_mlp(hidden=5, seed=1).double()
    x, y = torch.randn(7, 1, 8, 8, dtype=torch.float64), torch.randint(0, 10, (7,))
    gradient = scale.hidden_gradient(model, x, y)
    z = model[1](x.flatten(1))
    probabilities = torch.softmax(model[3](z.relu()), dim=1)
    dlogits = (probabilities - F.one_hot(y, 10)) / len(y)
    expected = (dlogits @ model[3].weight) * (z > 0)
    torch.testing.assert_close(gradient, expected.detach(), rtol=1e-10, atol=1e-14)
    assert all(p.grad is None or not p.grad.any() for p in model.parameters())


def test_hidden_gradient_divides_the_loss_scale_back_out():
    model = practice.digits_mlp(seed=0)
    x, y = torch.randn(16, 1, 8, 8), torch.randint(0, 10, (16,))
    plain = scale.hidden_gradient(model, x, y)
    torch.testing.assert_close(scale.hidden_gradient(model, x, y, scale=4.0), plain)
    half = scale.hidden_gradient(model, x, y, amp=torch.float16, scale=2.0**10)
    assert half.dtype == torch.float64 and half.shape == plain.shape
    assert scale.relative_difference(half, plain) < 1e-2


# --- dynamic loss scaling --------------------------------------------------------------------

@given(overflows=st.sets(st.integers(0, 11), max_size=6), interval=st.integers(1, 4))
def test_grad_scaler_follows_the_update_rule_of_the_exercise(overflows, interval):
    scales, taken = scale.scaler_trajectory(overflows, steps=12, growth_interval=interval)
    expected, good = 2.0**16, 0
    for step in range(12):
        expected, good = update_scale(expected, step in overflows, good, interval)
        assert scales[step] == expected
        assert taken[step] == (step not in overflows)


def test_update_scale_halves_on_overflow_and_doubles_after_a_run_of_good_steps():
    assert update_scale(1024.0, True, 7, 10) == (512.0, 0)
    assert update_scale(1024.0, False, 7, 10) == (1024.0, 8)
    assert update_scale(1024.0, False, 9, 10) == (2048.0, 0)


# --- checkpoints -------------------------------------------------------------------------------

def test_interrupted_batches_stop_at_the_given_batch_and_share_the_generator():
    inner = practice.TensorBatches(torch.arange(10.0).unsqueeze(1), torch.arange(10), 4)
    batches = scale.InterruptedBatches(inner, at=4)
    assert len(batches) == 3 and batches.generator is inner.generator
    assert len(list(batches)) == 3  # the first epoch: batches 0, 1, 2
    seen = []
    with pytest.raises(scale.Interrupted):
        for batch in batches:
            seen.append(batch)
    assert len(seen) == 1  # batch 3 served, batch 4 interrupted


# --- data parallelism ----------------------------------------------------------------------

def test_shards_split_a_batch_into_equal_consecutive_parts():
    x, y = torch.arange(12.0).reshape(6, 2), torch.arange(6)
    parts = scale.shards(x, y, 3)
    assert [p[1].tolist() for p in parts] == [[0, 1], [2, 3], [4, 5]]
    with pytest.raises(ValueError, match="equal shards"):
        scale.shards(x, y, 4)


def test_flat_gradient_has_one_entry_per_parameter_and_leaves_no_gradients():
    model = practice.digits_mlp(hidden=8, seed=0)
    gradient = scale.flat_gradient(model, torch.randn(4, 1, 8, 8), torch.tensor([0, 1, 2, 3]))
    assert gradient.shape == (sum(p.numel() for p in model.parameters()),)
    assert all(p.grad is None for p in model.parameters())
    workers = scale.worker_gradients(model, torch.randn(4, 1, 8, 8), torch.arange(4), 2)
    assert len(workers) == 2 and workers[0].shape == gradient.shape


@given(rows=st.integers(2, 12), features=st.integers(1, 5), seed=st.integers(0, 100))
def test_worker_batch_norm_of_one_worker_is_torch_batch_norm(rows, features, seed):
    torch.manual_seed(seed)
    x = torch.randn(rows, features, dtype=torch.float64) * 3 + 1
    ours = scale.WorkerBatchNorm(features).double()
    torch_bn = nn.BatchNorm1d(features, track_running_stats=False).double()
    with torch.no_grad():
        ours.weight.uniform_(0.5, 2)
        ours.bias.normal_()
        torch_bn.load_state_dict(ours.state_dict())
    torch.testing.assert_close(ours(x), torch_bn(x), rtol=1e-9, atol=1e-9)


@given(workers=st.sampled_from([2, 3, 4]), per_worker=st.integers(2, 6), seed=st.integers(0, 50))
def test_worker_batch_norm_normalizes_each_shard_alone_or_all_together(workers, per_worker,
                                                                      seed):
    torch.manual_seed(seed)
    x = torch.randn(workers * per_worker, 3, dtype=torch.float64) + torch.arange(3.0)
    plain = scale.WorkerBatchNorm(3).double()
    local = scale.WorkerBatchNorm(3, workers=workers).double()
    synced = scale.WorkerBatchNorm(3, workers=workers, sync=True).double()
    expected_local = torch.cat([plain(part) for part in x.chunk(workers)])
    torch.testing.assert_close(local(x), expected_local)
    torch.testing.assert_close(synced(x), plain(x), rtol=1e-9, atol=1e-9)


def test_bn_mlp_has_the_same_weights_whatever_the_workers():
    a, b = scale.bn_mlp(), scale.bn_mlp(workers=4, sync=True)
    assert a[2].workers == 1 and (b[2].workers, b[2].sync) == (4, True)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert p.dtype == torch.float64 and torch.equal(p, q)


def test_shard_mean_spread_is_zero_for_constant_values_and_for_the_whole_set():
    assert scale.shard_mean_spread(torch.full((50,), 3.0), [1, 5, 50]) == [0.0, 0.0, 0.0]
    values = torch.randn(64, dtype=torch.float64)
    spread = scale.shard_mean_spread(values, [1, 64], draws=50)
    assert spread[0] > 0.5 and spread[1] == pytest.approx(0.0, abs=1e-12)


# --- the linear scaling rule -------------------------------------------------------------------

@given(base_lr=st.floats(1e-4, 1.0), base_batch=st.sampled_from([16, 64, 256]),
       factor=st.sampled_from([1, 2, 8, 32]), warmup=st.integers(1, 50))
def test_scaled_lr_rises_linearly_from_the_base_to_the_scaled_rate(base_lr, base_batch, factor,
                                                                   warmup):
    batch = base_batch * factor
    target = base_lr * factor
    assert scaled_lr(0, base_lr, base_batch, batch, warmup) == pytest.approx(base_lr)
    assert scaled_lr(warmup, base_lr, base_batch, batch, warmup) == pytest.approx(target)
    assert scaled_lr(warmup / 2, base_lr, base_batch, batch, warmup) == pytest.approx(
        (base_lr + target) / 2)
    assert scaled_lr(10 * warmup, base_lr, base_batch, batch, warmup) == pytest.approx(target)
    assert scaled_lr(0, base_lr, base_batch, batch, 0) == pytest.approx(target)


def test_goyal_lr_warms_up_for_five_epochs_and_decays_tenfold_at_30_60_80():
    assert scale.goyal_lr(0, 8192) == pytest.approx(0.1)
    assert scale.goyal_lr(2.5, 8192) == pytest.approx(1.65)
    assert [scale.goyal_lr(e, 8192) for e in (5, 29.9, 30, 60, 80, 89)] == pytest.approx(
        [3.2, 3.2, 0.32, 0.032, 0.0032, 0.0032])
    assert [scale.goyal_lr(e, 256) for e in (0, 3, 10)] == pytest.approx([0.1, 0.1, 0.1])


def test_scaling_runs_train_each_batch_and_rate_on_the_same_start():
    digits = practice.load_digits()
    runs = scale.scaling_runs(digits, runs=[(64, 0.05), (256, 0.05)], epochs=1)
    assert [(r.batch, r.lr, r.history.epochs) for r in runs] == [(64, 0.05, 1), (256, 0.05, 1)]
    assert [r.steps_per_epoch for r in runs] == [20, 5]


# --- a real data-parallel run ----------------------------------------------------------------

def test_the_recorded_ddp_run_is_the_one_the_notebook_describes():
    record = scale.RECORDED_DDP
    assert record.command.endswith(" ".join(scale.DDP_ARGS))
    assert (record.one.processes, record.two.processes) == (1, 2)
    assert (record.one.per_process_batch, record.two.per_process_batch) == (40, 20)
    assert scale.ddp_script().is_file()


# --- throughput ----------------------------------------------------------------------------

def test_throughput_is_the_batch_over_the_median_step_after_the_warm_up():
    measured = scale.Throughput(batch_size=32, step_seconds=[9.0, 5.0, 0.5, 0.25, 1.0],
                                warmup=2)
    assert measured.median_seconds == 0.5
    assert measured.samples_per_second == 64.0


@pytest.mark.parametrize("amp, channels_last", [(False, False), (torch.bfloat16, True)])
def test_measure_throughput_times_every_step_of_the_model(amp, channels_last):
    measured = scale.measure_throughput(scale.small_convnet, batch_size=4, steps=3, warmup=1,
                                        amp=amp, channels_last=channels_last)
    assert len(measured.step_seconds) == 3 and min(measured.step_seconds) > 0
    assert measured.samples_per_second > 0


def test_small_convnet_is_lenet_for_color_images():
    model = scale.small_convnet()
    assert sum(p.numel() for p in model.parameters()) == 62006
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_loss_scale_figure_shows_the_shares_in_its_title():
    values = torch.tensor([1e-9, 1e-3, 0.0, 1.0])
    fig = scale.loss_scale_figure(values, 0, torch.float16, lang="en")
    title = fig.axes[0].get_title()
    assert title.startswith("float16, s = 2^0") and "33.3%" in title and "0.0%" in title
    plt.close(fig)
