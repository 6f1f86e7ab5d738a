"""Teaching claims of lecture 11 (training at scale), each a small deterministic experiment.

The experiments are the notebook's own (``course_lib.lectures.scale``) with the arguments of its
quick profile, so every sentence of the notebook about a printed number or a plot is checked
here: what float16 and bfloat16 do to large and small values, loss scaling, GradScaler, master
weights, exact resume, averaged worker gradients, the recorded torchrun run, batch norm across
workers, and the linear scaling rule.
"""

import importlib.util
import math

import pytest
import torch
import torch.distributed as dist

from course_lib.lectures import practice, scale

F16, BF16, F32 = torch.float16, torch.bfloat16, torch.float32


@pytest.fixture(scope="module")
def digits():
    return practice.load_digits()


@pytest.fixture(scope="module")
def gradients(digits):
    """The hidden-layer gradient of the MLP after 5 epochs: float32, and float16 autocast
    without and with the loss scale 2^16."""
    mlp = scale.trained_digits_mlp(digits, epochs=5)
    x, y = digits.x_train, digits.y_train
    return {"float32": scale.hidden_gradient(mlp, x, y),
            1.0: scale.hidden_gradient(mlp, x, y, amp=F16, scale=1.0),
            2.0**16: scale.hidden_gradient(mlp, x, y, amp=F16, scale=2.0**16)}


# --- number formats ----------------------------------------------------------------------------

def test_bfloat16_keeps_the_exponent_and_range_of_float32_with_7_mantissa_bits():
    f32, bf16, f16 = scale.number_formats()
    assert (f32.exponent_bits, bf16.exponent_bits, f16.exponent_bits) == (8, 8, 5)
    assert (f32.mantissa_bits, bf16.mantissa_bits, f16.mantissa_bits) == (23, 7, 10)
    assert bf16.max == pytest.approx(3.4e38, rel=0.01) and f32.max == pytest.approx(3.4e38,
                                                                                      rel=0.01)
    assert 2 < math.log10(2**8) < 3  # 8 significant bits: two to three decimal digits


def test_float16_reaches_only_65504_and_its_smallest_subnormal_is_2_to_the_minus_24():
    f16 = scale.number_format(F16)
    assert f16.max == 65504.0
    assert f16.smallest_subnormal == 2.0**-24 == pytest.approx(6e-8, rel=0.01)


def test_300_squared_overflows_in_float16_and_is_rounded_to_90112_in_bfloat16():
    activation = torch.tensor(300.0)
    assert math.isinf((activation.to(F16) ** 2).item())
    assert (activation.to(BF16) ** 2).item() == 90112.0
    assert (activation.to(F32) ** 2).item() == 90000.0


def test_numbers_just_above_65504_round_down_and_from_65520_overflow_in_float16():
    assert torch.tensor(65519.0).to(F16).item() == 65504.0
    assert math.isinf(torch.tensor(65520.0).to(F16).item())
    assert math.isfinite(torch.tensor(65520.0).to(BF16).item())


def test_a_gradient_of_1e_minus_8_vanishes_in_float16_unless_the_loss_is_scaled():
    tiny = torch.tensor(1e-8)
    assert scale.round_trip(tiny, F16).item() == 0.0
    scaled = 1e-8 * 2**16
    assert scale.number_format(F16).smallest_normal < scaled == pytest.approx(6.6e-4, rel=0.01)
    recovered = scale.round_trip(tiny, F16, scale=2.0**16).item()
    assert abs(recovered - 1e-8) / 1e-8 < scale.number_format(F16).eps


# --- the gradients of a real net ---------------------------------------------------------------

def test_about_40_percent_of_the_hidden_gradient_vanish_in_float16_without_scaling(gradients):
    reference = gradients["float32"]
    assert 0.3 < scale.cast_outcome(reference, F16).zero < 0.5
    nonzero = reference != 0
    real = ((gradients[1.0] == 0) & nonzero).sum() / nonzero.sum()
    assert 0.3 < real < 0.5


def test_with_a_loss_scale_of_2_to_the_16_almost_none_vanish_and_none_overflow(gradients):
    reference = gradients["float32"]
    outcome = scale.cast_outcome(reference, F16, scale=2.0**16)
    assert outcome.zero < 1e-3 and outcome.inf == 0.0
    nonzero = reference != 0
    assert ((gradients[2.0**16] == 0) & nonzero).sum() / nonzero.sum() < 1e-3
    assert torch.isfinite(gradients[2.0**16]).all()


def test_bfloat16_needs_no_loss_scaling(gradients):
    outcome = scale.cast_outcome(gradients["float32"], BF16)
    assert outcome.zero < 1e-3 and outcome.inf == 0.0


def test_the_gradient_as_a_whole_changes_by_tenths_of_a_percent_scaled_or_not(gradients):
    reference = gradients["float32"]
    for s in (1.0, 2.0**16):
        assert 1e-4 < scale.relative_difference(gradients[s], reference) < 1e-2


# --- GradScaler and master weights -------------------------------------------------------------

def test_grad_scaler_skips_the_overflowing_steps_halves_and_regrows_the_scale():
    scales, taken = scale.scaler_trajectory(overflow_steps={2, 3}, steps=10, growth_interval=3)
    assert scales == [65536.0, 65536.0, 32768.0, 16384.0, 16384.0, 16384.0, 32768.0, 32768.0,
                      32768.0, 65536.0]
    assert taken == [True, True, False, False, True, True, True, True, True, True]


def test_an_update_of_0_001_to_a_weight_of_1_is_lost_in_bfloat16_and_rounded_in_float16():
    weight, update = torch.tensor(1.0), torch.tensor(1e-3)
    assert (weight.to(BF16) + update.to(BF16)).item() == 1.0
    assert scale.number_format(BF16).eps > 1e-3
    assert (weight.to(F16) + update.to(F16)).item() == 1.0 + 2.0**-10
    assert (weight + update).item() == pytest.approx(1.001)


def test_sixteen_bit_numbers_take_half_the_memory():
    assert torch.zeros(1, dtype=F16).element_size() * 2 == torch.zeros(1).element_size()
    assert torch.zeros(1, dtype=BF16).element_size() == 2


def test_all_three_formats_train_the_digits_mlp_equally_well(digits):
    histories = {amp: scale.train_with_amp(digits, amp, epochs=3)
                 for amp in (False, torch.bfloat16, torch.float16)}
    loss = histories[False].train_loss[-1]
    for history in histories.values():
        assert abs(history.train_loss[-1] - loss) / loss < 0.01
        assert abs(history.val_acc[-1] - histories[False].val_acc[-1]) < 0.01


# --- checkpoints ---------------------------------------------------------------------------

def test_resuming_from_the_checkpoint_is_bit_identical_and_weights_alone_are_not(digits,
                                                                                 tmp_path):
    demo = scale.resume_demo(digits, tmp_path, epochs=4, interrupted_in=3)
    assert demo.checkpoint_epoch == 2
    assert demo.bit_identical and demo.resumed_difference == 0.0
    assert demo.weights_only_difference > 1e-2


# --- data parallelism ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def global_batch(digits):
    return digits.x_train[:64].double(), digits.y_train[:64]


def test_the_average_of_two_workers_gradients_is_the_gradient_of_the_whole_batch(global_batch):
    x, y = global_batch
    replica = practice.digits_mlp(seed=0).double()
    workers = scale.worker_gradients(replica, x, y, workers=2)
    whole = scale.flat_gradient(replica, x, y)
    assert ((workers[0] + workers[1]) / 2 - whole).abs().max() < 1e-12
    assert scale.relative_difference(workers[0], whole) > 0.1  # one worker alone is far off


def ddp_train():
    spec = importlib.util.spec_from_file_location("ddp_train", scale.ddp_script())
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_recorded_two_process_run_took_the_steps_of_a_fresh_one_process_run():
    """The record the quick profile shows is current: one process today takes the same steps
    (tests/unit/test_distributed.py checks two processes against one with the same args)."""
    script = ddp_train()
    _, history = script.train(script.parse(list(scale.DDP_ARGS)))
    record = scale.RECORDED_DDP
    for run in (record.one, record.two):
        assert list(run.step_losses) == pytest.approx(history.step_loss, rel=1e-12)
        assert run.val_acc == history.val_acc[-1]
    assert len(record.two.step_losses) == 14 and record.two.per_process_batch == 20
    assert record.max_weight_difference < 1e-15


def test_batch_norm_with_statistics_per_worker_breaks_the_equality_and_syncing_restores_it(
        global_batch):
    x, y = global_batch
    whole = scale.flat_gradient(scale.bn_mlp(workers=1), x, y)
    local = scale.flat_gradient(scale.bn_mlp(workers=2), x, y)
    synced = scale.flat_gradient(scale.bn_mlp(workers=2, sync=True), x, y)
    assert scale.relative_difference(local, whole) > 0.1
    assert scale.relative_difference(synced, whole) < 1e-12


def test_the_mean_of_a_workers_batch_strays_by_about_sigma_over_root_b(digits):
    with torch.no_grad():
        feature = scale.bn_mlp()[:2](digits.x_train.double())[:, 0]
    sizes = [2, 4, 8, 16, 32, 64]
    spread = scale.shard_mean_spread(feature, sizes)
    for b, measured in zip(sizes, spread, strict=True):
        assert measured == pytest.approx(feature.std().item() / math.sqrt(b), rel=0.2)
    assert spread == sorted(spread, reverse=True)


def test_sync_batch_norm_refuses_cpu_tensors_in_a_process_group(tmp_path):
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0,
                            world_size=1)
    try:
        with pytest.raises(ValueError, match="GPU"):
            torch.nn.SyncBatchNorm(3)(torch.randn(4, 3))
    finally:
        dist.destroy_process_group()


# --- the linear scaling rule ---------------------------------------------------------------

def test_goyal_et_al_rates_are_0_1_per_256_images():
    assert [scale.goyal_lr(10, b) for b in (256, 1024, 8192)] == pytest.approx([0.1, 0.4, 3.2])
    assert 8192 // 32 == 256 and 8192 // 256 == 32  # 256 GPUs of 32 images; k = 32


def test_a_batch_8_times_larger_follows_the_small_batch_only_with_an_8_times_larger_rate(
        digits):
    small, same, scaled = scale.scaling_runs(
        digits, runs=[(16, 0.01), (128, 0.01), (128, 0.08)], epochs=4)
    for a, b in zip(small.history.train_loss, scaled.history.train_loss, strict=True):
        assert abs(a - b) < 0.05
    assert abs(small.history.val_acc[-1] - scaled.history.val_acc[-1]) < 0.02
    assert 7 < small.steps_per_epoch / scaled.steps_per_epoch <= 8
    assert same.history.train_loss[-1] > 2.0 > 1.5 * small.history.train_loss[-1]
    assert same.history.val_acc[-1] < 0.5 < small.history.val_acc[-1]
