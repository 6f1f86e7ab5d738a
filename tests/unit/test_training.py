"""fit / evaluate: learning, history, EMA, exact resume, atomic checkpoints, localized errors."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_lib import execution, training
from course_lib.i18n import LANGUAGES, CourseError, t
from course_lib.training import History, ema_curve, evaluate, fit, load_checkpoint


def quadrants(n=128, seed=0):
    """Points in the plane labelled by the sign of x0 * x1 (an XOR-like, non-linear task)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, generator=gen)
    return x, (x[:, 0] * x[:, 1] > 0).long()


def loader(seed=0, generator=None, n=128, batch_size=16):
    return DataLoader(TensorDataset(*quadrants(n, seed)), batch_size=batch_size, shuffle=True,
                      generator=generator)


def mlp(seed=0, hidden=16, dropout=0.0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, hidden), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(hidden, 2))


def test_fit_learns_a_small_nonlinear_task():
    model = mlp(hidden=32)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    history = fit(model, loader(), optimizer, epochs=15, val_data=loader(seed=1), progress=False)
    assert history.train_loss[-1] < 0.5 * history.train_loss[0]
    assert history.val_acc[-1] > 0.85
    assert evaluate(model, loader(seed=1)).accuracy == pytest.approx(history.val_acc[-1])


def test_history_has_one_entry_per_step_and_per_epoch():
    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    history = fit(model, loader(), optimizer, epochs=3, val_data=loader(seed=1), progress=False)
    steps = 3 * 8
    assert history.epochs == 3 and not history.stopped_early
    for name in ("step_loss", "step_loss_ema", "step_lr", "step_grad_norm"):
        assert len(getattr(history, name)) == steps
    for name in ("train_loss", "train_acc", "val_loss", "val_acc"):
        assert len(getattr(history, name)) == 3
    assert history.step_lr == [0.05] * steps
    assert all(norm > 0 for norm in history.step_grad_norm)
    assert all(0 <= acc <= 1 for acc in history.train_acc + history.val_acc)
    assert History.from_state_dict(history.state_dict()) == history


def test_epoch_loss_is_the_example_weighted_mean_of_step_losses():
    model = mlp()
    data = loader(n=100, batch_size=32)  # batches of 32, 32, 32, 4
    history = fit(model, data, torch.optim.SGD(model.parameters(), lr=0.0), epochs=1,
                  progress=False)
    sizes = [32, 32, 32, 4]
    expected = sum(loss * n for loss, n in zip(history.step_loss, sizes, strict=True)) / 100
    assert history.train_loss[0] == pytest.approx(expected)
    assert history.train_loss[0] == pytest.approx(evaluate(model, data).loss)


def test_regression_has_losses_but_no_accuracy_and_no_grad_norms_on_request():
    x = torch.randn(64, 3)
    data = DataLoader(TensorDataset(x, x.sum(dim=1, keepdim=True)), batch_size=16)
    model = nn.Linear(3, 1)
    history = fit(model, data, torch.optim.SGD(model.parameters(), lr=0.1), loss_fn=nn.MSELoss(),
                  epochs=2, val_data=data, grad_norms=False, progress=False, device="cpu")
    assert history.train_acc == [] and history.val_acc == [] and history.step_grad_norm == []
    assert len(history.val_loss) == 2
    assert evaluate(model, data, nn.MSELoss()).accuracy is None


def test_grad_norm_is_the_norm_of_all_gradients_together():
    model = mlp()
    x, y = quadrants(32)
    nn.functional.cross_entropy(model(x), y).backward()
    total = nn.utils.clip_grad_norm_(model.parameters(), max_norm=math.inf)
    assert training.grad_norm(model).item() == pytest.approx(total.item(), rel=1e-6)


def test_ema_is_the_bias_corrected_exponential_average():
    model = mlp()
    history = fit(model, loader(), torch.optim.SGD(model.parameters(), lr=0.1), epochs=2,
                  ema=0.9, progress=False)
    losses, beta = history.step_loss, 0.9
    for step in (1, 5, len(losses)):
        weights = [(1 - beta) * beta ** (step - i) for i in range(1, step + 1)]
        closed_form = sum(w * x for w, x in zip(weights, losses[:step], strict=True))
        assert history.step_loss_ema[step - 1] == pytest.approx(closed_form / (1 - beta**step))
    assert history.step_loss_ema[0] == pytest.approx(losses[0])
    assert history.step_loss_ema == pytest.approx(ema_curve(losses, beta))


def test_fit_without_ema_records_the_average_with_beta_0_99():
    model = mlp()
    history = fit(model, loader(), torch.optim.SGD(model.parameters(), lr=0.1), epochs=1,
                  progress=False)
    assert history.ema == 0.99 and History().ema == 0.99
    assert history.step_loss_ema == pytest.approx(ema_curve(history.step_loss, 0.99), rel=1e-12)
    assert ema_curve([1.0, 0.0]) == pytest.approx([1.0, 0.99 / 1.99], rel=1e-12)


@given(st.floats(-1e3, 1e3, allow_subnormal=False), st.integers(1, 50), st.floats(0.0, 0.999))
def test_ema_of_a_constant_is_that_constant(value, n, beta):
    assert ema_curve([value] * n, beta) == pytest.approx([value] * n, abs=1e-9 * abs(value))


def test_ema_continues_across_epochs():
    history = History(ema=0.99)
    values = [float(v) for v in torch.rand(30)]
    history.add_steps(values[:10], [0.1] * 10, [])
    history.add_steps(values[10:], [0.1] * 20, [])
    assert history.step_loss_ema == pytest.approx(ema_curve(values, 0.99), rel=1e-12)


class Interrupted(Exception):
    pass


def interrupting_loss(after_steps):
    """Cross-entropy that raises in the middle of training, like a kernel stopped by hand."""
    calls = {"train": 0}

    def loss_fn(out, y):
        if torch.is_grad_enabled():
            calls["train"] += 1
            if calls["train"] > after_steps:
                raise Interrupted
        return nn.functional.cross_entropy(out, y)

    return loss_fn


def run(path, loss_fn=None, resume=False, own_generator=False, model_seed=0):
    generator = torch.Generator().manual_seed(5) if own_generator else None
    model = mlp(seed=model_seed, dropout=0.2)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    history = fit(model, loader(generator=generator), optimizer, loss_fn=loss_fn, epochs=4,
                  val_data=loader(seed=1), scheduler=scheduler, checkpoint=path, resume=resume,
                  early_stopping=10, progress=False)
    return model, history


@pytest.mark.parametrize("own_generator", [False, True], ids=["global-rng", "loader-generator"])
def test_resume_after_an_interruption_is_bit_identical(tmp_path, own_generator):
    torch.manual_seed(123)
    expected_model, expected_history = run(tmp_path / "full.pt", own_generator=own_generator)

    torch.manual_seed(123)
    with pytest.raises(Interrupted):  # stopped in the 3rd epoch, after 2 checkpoints
        run(tmp_path / "cut.pt", interrupting_loss(2 * 8 + 3), own_generator=own_generator)
    assert torch.load(tmp_path / "cut.pt", weights_only=True)["epoch"] == 2

    torch.manual_seed(999)  # a new session: other random state, other initial weights
    model, history = run(tmp_path / "cut.pt", resume=True, own_generator=own_generator,
                         model_seed=7)
    for key, value in expected_model.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    assert history == expected_history


def test_resume_of_a_finished_run_trains_no_more(tmp_path):
    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    first = fit(model, loader(), optimizer, epochs=2, checkpoint=tmp_path / "c.pt",
                progress=False)
    again = fit(model, loader(), optimizer, epochs=2, checkpoint=tmp_path / "c.pt", resume=True,
                progress=False)
    assert again == first


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "run" / "model.pt"
    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    fit(model, loader(), optimizer, epochs=1, checkpoint=path, progress=False)
    before = path.read_bytes()

    def half_then_crash(obj, f):
        f.write(before[: len(before) // 2])
        raise OSError("disk full")

    monkeypatch.setattr(training.torch, "save", half_then_crash)
    with pytest.warns(UserWarning, match="disk full"):  # training goes on, see below
        fit(model, loader(), optimizer, epochs=3, checkpoint=path, resume=True, progress=False)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.pt"]

    fresh = tmp_path / "fresh.pt"
    with pytest.raises(OSError):
        training.save_checkpoint(fresh, {"a": 1})
    assert list(tmp_path.glob("*fresh*")) == []


def saved_checkpoint(path):
    model = mlp()
    fit(model, loader(), torch.optim.SGD(model.parameters(), lr=0.1), epochs=1, checkpoint=path,
        progress=False)
    return path


@pytest.mark.parametrize("lang", LANGUAGES)
def test_missing_checkpoint_is_explained(tmp_path, lang):
    model = mlp()
    path = tmp_path / "nothing.pt"
    with pytest.raises(CourseError) as error:
        fit(model, loader(), torch.optim.SGD(model.parameters(), lr=0.1), epochs=1,
            checkpoint=path, resume=True, progress=False, lang=lang)
    assert error.value.key == "training.checkpoint_missing"
    assert str(error.value) == t("training.checkpoint_missing", lang=lang, path=str(path))
    assert "resume=False" in str(error.value)


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("damage", ["truncated", "garbage", "not-a-checkpoint"])
def test_corrupt_checkpoint_is_explained(tmp_path, lang, damage):
    path = saved_checkpoint(tmp_path / "c.pt")
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    elif damage == "garbage":
        path.write_bytes(b"\x00not a checkpoint\xff" * 10)
    else:
        torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(CourseError) as error:
        load_checkpoint(path, mlp(), lang=lang)
    assert error.value.key == "training.checkpoint_corrupt"
    head = t("training.checkpoint_corrupt", lang=lang, path=str(path), reason="@").split("@")[0]
    assert str(error.value).startswith(head)
    assert str(path) in str(error.value) and "resume=False" in str(error.value)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_checkpoint_of_another_model_is_explained(tmp_path, lang):
    path = saved_checkpoint(tmp_path / "c.pt")
    with pytest.raises(CourseError) as error:
        load_checkpoint(path, mlp(hidden=8), lang=lang)
    assert error.value.key == "training.checkpoint_mismatch"
    assert "0.weight: (16, 2) != (8, 2)" in str(error.value)
    problems = error.value.fields["problems"]
    assert str(error.value) == t("training.checkpoint_mismatch", lang=lang, path=str(path),
                                 problems=problems)

    other = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
    with pytest.raises(CourseError, match=r"-2\.weight") as error:
        load_checkpoint(path, other, lang=lang)
    assert "+3.weight" in str(error.value)


def test_checkpoint_with_another_optimizer_is_explained(tmp_path):
    path = saved_checkpoint(tmp_path / "c.pt")
    model = mlp()
    groups = [{"params": model[0].parameters()}, {"params": model[3].parameters()}]
    with pytest.raises(CourseError) as error:
        load_checkpoint(path, model, torch.optim.SGD(groups, lr=0.1), lang="sk")
    assert error.value.key == "training.checkpoint_optimizer_mismatch"


def test_early_stopping_stops_when_validation_loss_stalls(tmp_path):
    model = mlp()
    history = fit(model, loader(), torch.optim.SGD(model.parameters(), lr=0.0), epochs=20,
                  val_data=loader(seed=1), early_stopping=2, progress=False)
    assert history.epochs == 3 and history.stopped_early  # best at epoch 1, then 2 stalls
    assert len(history.val_loss) == 3


def test_early_stopping_needs_validation_data():
    model = mlp()
    with pytest.raises(CourseError) as error:
        fit(model, loader(), torch.optim.SGD(model.parameters(), lr=0.1), early_stopping=2,
            lang="ru")
    assert str(error.value) == t("training.early_stopping_needs_val", lang="ru")


def test_schedulers_per_batch_per_epoch_and_on_plateau():
    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 / (step + 1))
    history = fit(model, loader(), optimizer, epochs=1, scheduler=scheduler,
                  scheduler_interval="batch", progress=False)
    assert history.step_lr == pytest.approx([1 / (s + 1) for s in range(8)])

    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    history = fit(model, loader(), optimizer, epochs=2, scheduler=scheduler, progress=False)
    assert history.step_lr == [1.0] * 8 + [0.5] * 8

    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, patience=0, factor=0.5)
    fit(model, loader(), optimizer, epochs=3, scheduler=plateau, progress=False)
    assert plateau.num_bad_epochs == 0 and plateau.best < math.inf

    with pytest.raises(CourseError):
        fit(model, loader(), optimizer, scheduler=plateau, scheduler_interval="step")


def test_progress_bars_follow_the_environment(monkeypatch, capsys):
    assert training.progress_enabled(True, {})
    assert not training.progress_enabled(False, {})
    assert not training.progress_enabled(True, {"TQDM_DISABLE": "1"})
    assert not training.progress_enabled(True, {"CI": "true"})
    assert training.progress_enabled(True, {"CI": "0", "TQDM_DISABLE": ""})

    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    monkeypatch.delenv("CI", raising=False)
    model = mlp()
    fit(model, loader(), torch.optim.SGD(model.parameters(), lr=0.0), epochs=5,
        val_data=loader(seed=1), early_stopping=1, lang="sr")
    captured = capsys.readouterr()
    assert t("training.epochs_bar", lang="sr") in captured.err
    assert t("training.batches_bar", lang="sr", epoch=1, epochs=5) in captured.err
    assert "Rano zaustavljanje posle epohe 2" in captured.out + captured.err


def test_plot_labels_are_localized():
    import matplotlib.pyplot as plt

    model = mlp()
    history = fit(model, loader(), torch.optim.SGD(model.parameters(), lr=0.1), epochs=2,
                  val_data=loader(seed=1), progress=False)
    for lang in LANGUAGES:
        fig = history.plot(lang=lang, panels=("loss", "epoch_loss", "accuracy", "lr", "grad_norm"))
        assert len(fig.axes) == 5
        labels = [ax.get_xlabel() for ax in fig.axes] + [ax.get_ylabel() for ax in fig.axes]
        assert t("training.step", lang=lang) in labels
        assert t("training.accuracy", lang=lang) in labels
        legend = [text.get_text() for text in fig.axes[0].get_legend().get_texts()]
        assert legend == [t("training.loss_raw", lang=lang),
                          t("training.loss_ema", lang=lang, beta=0.99)]
        plt.close(fig)
    assert len(History().plot().axes) == 1
    plt.close("all")


# --- GPU practices, exercised on the CPU ----------------------------------------------------


def test_gpu_practices_are_on_by_default_on_cuda_only(monkeypatch):
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    conv = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten())
    assert execution.amp_dtype("auto", cpu) is None
    assert execution.amp_dtype(True, cpu) is torch.bfloat16
    assert execution.amp_dtype(False, cuda) is None
    assert execution.amp_dtype(torch.float16, cpu) is torch.float16
    for supported, dtype in ((True, torch.bfloat16), (False, torch.float16)):
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda supported=supported: supported)
        assert execution.amp_dtype("auto", cuda) is dtype
    assert not execution.use_channels_last("auto", conv, cpu)
    assert execution.use_channels_last("auto", conv, cuda)
    assert not execution.use_channels_last("auto", mlp(), cuda)  # no convolution, nothing to gain
    assert execution.use_channels_last(True, mlp(), cpu)


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize(("option", "value", "key"), [
    ("amp", "bf16", "training.bad_amp"), ("amp", torch.float64, "training.bad_amp"),
    ("channels_last", "yes", "training.bad_channels_last"),
    ("compile", "fastest", "training.bad_compile"),
])
def test_bad_gpu_options_are_explained(lang, option, value, key):
    model = mlp()
    with pytest.raises(CourseError) as error:
        fit(model, loader(), torch.optim.SGD(model.parameters(), lr=0.1), progress=False,
            lang=lang, **{option: value})
    assert str(error.value) == t(key, lang=lang, value=value)


def input_dtypes(model):
    """Records the dtype of every nn.Linear output of ``model`` during training."""
    seen = []
    for module in model.modules():
        if isinstance(module, nn.Linear):
            module.register_forward_hook(lambda m, args, out: seen.append(out.dtype))
    return seen


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_mixed_precision_computes_the_forward_pass_in_low_precision_and_still_learns(
        tmp_path, dtype):
    model = mlp(hidden=32)
    seen = input_dtypes(model)
    history = fit(model, loader(), torch.optim.Adam(model.parameters(), lr=0.02), epochs=15,
                  val_data=loader(seed=1), amp=dtype, checkpoint=tmp_path / "c.pt",
                  progress=False)
    assert set(seen) == {dtype}
    assert all(p.dtype == torch.float32 for p in model.parameters())  # float32 master weights
    assert history.train_loss[-1] < 0.5 * history.train_loss[0]
    assert history.val_acc[-1] > 0.8
    assert all(math.isfinite(norm) for norm in history.step_grad_norm)
    scaler = torch.load(tmp_path / "c.pt", weights_only=True)["scaler"]
    assert bool(scaler) == (dtype == torch.float16)  # loss scaling only for float16
    plain = evaluate(model, loader(seed=1), amp=False)
    assert evaluate(model, loader(seed=1), amp=dtype).loss == pytest.approx(plain.loss, rel=0.05)


def test_channels_last_changes_the_memory_layout_not_the_result():
    def conv_net():
        torch.manual_seed(0)
        return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))

    gen = torch.Generator().manual_seed(0)
    images = torch.randn(64, 1, 8, 8, generator=gen)
    data = DataLoader(TensorDataset(images, (images.mean(dim=(1, 2, 3)) > 0).long()),
                      batch_size=16)
    layouts = []
    nhwc, plain = conv_net(), conv_net()
    nhwc[0].register_forward_pre_hook(lambda m, args: layouts.append(
        args[0].is_contiguous(memory_format=torch.channels_last)))
    fit(nhwc, data, torch.optim.SGD(nhwc.parameters(), lr=0.1), epochs=2, channels_last=True,
        progress=False)
    fit(plain, data, torch.optim.SGD(plain.parameters(), lr=0.1), epochs=2,
        channels_last=False, progress=False)
    assert layouts and all(layouts)
    assert nhwc[0].weight.is_contiguous(memory_format=torch.channels_last)
    for a, b in zip(nhwc.parameters(), plain.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_compiled_training_is_the_same_training(tmp_path, monkeypatch):
    compiled, real_compile = [], torch.compile

    def spy(module, **options):
        compiled.append(options)
        return real_compile(module, **options)

    monkeypatch.setattr(torch, "compile", spy)
    runs = []
    for option in (False, {"backend": "eager"}):
        model = mlp()
        history = fit(model, loader(generator=torch.Generator().manual_seed(1)),
                      torch.optim.SGD(model.parameters(), lr=0.1), epochs=2, compile=option,
                      checkpoint=tmp_path / f"{bool(option)}.pt", progress=False)
        runs.append((model, history))
    assert compiled == [{"backend": "eager"}]
    (plain, plain_history), (model, history) = runs
    assert history.step_loss == pytest.approx(plain_history.step_loss, rel=1e-6)
    saved = torch.load(tmp_path / "True.pt", weights_only=True)["model"]
    assert saved.keys() == plain.state_dict().keys()  # the model's own names, no "_orig_mod."


def test_loaders_pin_memory_for_the_gpu():
    from course_lib import data

    splits = data.load("spirals", limit=60)
    for pin, expected in (("auto", torch.cuda.is_available()), (True, True), (False, False)):
        assert {loader.pin_memory for loader in splits.loaders(8, pin_memory=pin)} == {expected}


# ---- no silent wrong result, no lost work -----------------------------------------------------

def empty():
    return DataLoader(TensorDataset(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long)),
                      batch_size=4)


def sgd(model, lr=0.1):
    return torch.optim.SGD(model.parameters(), lr=lr)


def test_fit_on_an_empty_loader_is_an_error_not_a_loss_of_zero():
    model = mlp()
    with pytest.raises(CourseError) as error:
        fit(model, empty(), sgd(model), epochs=2, progress=False, lang="sk")
    assert error.value.fields == {"name": "train_data"}
    with pytest.raises(CourseError, match="train_data"):
        fit(model, iter([]), sgd(model), epochs=2, progress=False)


def test_an_empty_validation_loader_is_not_the_best_epoch_of_early_stopping():
    model = mlp()
    with pytest.raises(CourseError, match="val_data"):
        fit(model, loader(), sgd(model), epochs=3, val_data=empty(), early_stopping=1,
            progress=False)
    with pytest.raises(CourseError, match="data"):
        evaluate(model, empty())
    with pytest.raises(CourseError, match="data"):
        evaluate(model, [])


@pytest.mark.parametrize(("kwargs", "name"), [({"epochs": -1}, "epochs"),
                                              ({"epochs": 1.5}, "epochs"),
                                              ({"early_stopping": 0}, "early_stopping"),
                                              ({"ema": 1.0}, "ema"), ({"ema": -0.5}, "ema")])
def test_bad_epochs_patience_and_ema_are_refused_before_any_step(kwargs, name):
    model = mlp()
    before = [p.clone() for p in model.parameters()]
    with pytest.raises(CourseError) as error:
        fit(model, loader(), sgd(model), val_data=loader(seed=1), progress=False, **kwargs)
    assert error.value.fields["name"] == name
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_zero_epochs_train_nothing_on_purpose():
    model = mlp()
    assert fit(model, loader(), sgd(model), epochs=0, progress=False).epochs == 0


def test_a_diverging_run_stops_and_keeps_the_last_finite_checkpoint(tmp_path):
    path = tmp_path / "model.pt"
    model = mlp()
    fit(model, loader(), sgd(model), epochs=1, checkpoint=path, progress=False)
    good = path.read_bytes()
    with pytest.warns(UserWarning) as caught:  # the same run on with a learning rate far too big
        history = fit(model, loader(), sgd(model, lr=1e30), epochs=5, checkpoint=path,
                      progress=False, lang="ru")
    assert history.epochs == 1 and not math.isfinite(history.train_loss[-1])
    assert str(caught[0].message) == " ".join([
        t("training.diverged", lang="ru", epoch=1, lr=1e30),
        t("training.diverged_checkpoint", lang="ru", path=str(path))])
    assert path.read_bytes() == good
    state = load_checkpoint(path, mlp())
    assert state["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in state["model"].values())


def test_nan_weights_with_a_finite_loss_are_not_saved_either(tmp_path):
    path = tmp_path / "model.pt"
    model = mlp()

    def poison(epoch, trained, history):
        if epoch == 1:
            with torch.no_grad():
                trained[3].bias.fill_(float("nan"))

    with pytest.warns(UserWarning, match="epoch 2"):
        history = fit(model, loader(), sgd(model), epochs=4, checkpoint=path, progress=False,
                      on_epoch_end=poison, lang="en")
    assert history.epochs == 2 and load_checkpoint(path, mlp())["epoch"] == 1


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_one_non_finite_weight_anywhere_makes_the_model_not_finite(bad, dtype):
    model = mlp().to(dtype)
    model.register_parameter("empty", nn.Parameter(torch.zeros(0, dtype=dtype)))
    model.register_parameter("wide", nn.Parameter(torch.full((2,), 1e300, dtype=torch.float64)))
    with torch.no_grad():
        model[0].weight[0, 0] = torch.finfo(dtype).max  # huge, but finite
    assert training._finite_parameters(model)
    with torch.no_grad():
        model[3].bias[-1] = bad
    assert not training._finite_parameters(model)


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_a_checkpoint_cut_anywhere_is_explained_not_a_bare_os_error(tmp_path, cut):
    path = saved_checkpoint(tmp_path / "c.pt")
    full = path.read_bytes()
    path.write_bytes(full[: int(cut * len(full))])
    with pytest.raises(CourseError) as error:
        load_checkpoint(path, mlp(), lang="sk")
    assert error.value.key == "training.checkpoint_corrupt"


def test_a_file_of_other_objects_is_refused_without_suggesting_weights_only_false(tmp_path):
    path = tmp_path / "c.pt"
    torch.save({"model": History()}, path)
    with pytest.raises(CourseError) as error:
        load_checkpoint(path, mlp(), lang="en")
    assert "weights_only" not in str(error.value)
    assert error.value.fields["reason"] == t("training.not_tensors", lang="en")


def test_resuming_an_sgd_checkpoint_into_adam_fails_at_once_and_leaves_adam_alone(tmp_path):
    path = saved_checkpoint(tmp_path / "c.pt")
    model = mlp()
    adam = torch.optim.Adam(model.parameters(), lr=0.01)
    before = adam.state_dict()["param_groups"]
    with pytest.raises(CourseError) as error:
        fit(model, loader(), adam, epochs=2, checkpoint=path, resume=True, progress=False,
            lang="sr")
    assert error.value.key == "training.checkpoint_optimizer_mismatch"
    assert "betas" in str(error.value)
    assert adam.state_dict()["param_groups"] == before
    course_adam = __import__("course_lib.optim", fromlist=["Adam"]).Adam(model.parameters())
    with pytest.raises(CourseError, match="betas"):
        load_checkpoint(path, mlp(), course_adam)


def test_resume_needs_a_checkpoint_path():
    model = mlp()
    with pytest.raises(CourseError) as error:
        fit(model, loader(), sgd(model), epochs=2, resume=True, progress=False, lang="sk")
    assert error.value.key == "training.resume_needs_checkpoint"


@pytest.mark.parametrize("where", ["folder", "under a file"])
def test_an_unwritable_checkpoint_is_refused_before_training(tmp_path, where):
    path = tmp_path if where == "folder" else tmp_path / "plain" / "model.pt"
    (tmp_path / "plain").write_text("a file, not a folder")
    model = mlp()
    before = [p.clone() for p in model.parameters()]
    with pytest.raises(CourseError) as error:
        fit(model, loader(), sgd(model), epochs=2, checkpoint=path, progress=False, lang="ru")
    assert error.value.key in ("training.checkpoint_is_folder", "training.checkpoint_unwritable")
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_a_full_disk_during_training_keeps_the_run_and_says_where(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    model = mlp()

    def full_disk(obj, f):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(training.torch, "save", full_disk)
    with pytest.warns(UserWarning) as caught:
        history = fit(model, loader(), sgd(model), epochs=3, checkpoint=path, progress=False,
                      lang="sk")
    assert history.epochs == 3 and len(caught) == 3
    assert str(path) in str(caught[0].message) and "No space left" in str(caught[0].message)
    assert not path.exists() and list(tmp_path.iterdir()) == []


def test_a_stale_temporary_file_of_a_killed_save_is_removed_by_the_next_save(tmp_path):
    import os
    import time

    path = tmp_path / "model.pt"
    stale, fresh = tmp_path / ".model.pt.killed.tmp", tmp_path / ".model.pt.running.tmp"
    for tmp in (stale, fresh):
        tmp.write_bytes(b"half a checkpoint")
    old = time.time() - 2 * training.STALE_AFTER_S
    os.utime(stale, (old, old))
    training.save_checkpoint(path, {"a": torch.zeros(1)})
    assert sorted(p.name for p in tmp_path.iterdir()) == [fresh.name, "model.pt"]


@pytest.mark.parametrize(("labels", "key"), [
    (torch.full((16,), 2), "training.labels_out_of_range"),
    (torch.full((16,), -3), "training.labels_out_of_range"),
    (torch.zeros(16), "training.labels_not_indices"),
])
def test_wrong_labels_are_explained_before_a_step(labels, key):
    model = mlp()
    data = DataLoader(TensorDataset(torch.randn(16, 2), labels), batch_size=8)
    with pytest.raises(CourseError) as error:
        fit(model, data, sgd(model), epochs=1, progress=False, lang="sk")
    assert error.value.key == key and " y " in str(error.value)


def test_labels_of_another_batch_size_and_an_unreduced_loss_are_explained():
    model = mlp()
    with pytest.raises(CourseError) as error:
        fit(model, [(torch.randn(8, 2), torch.zeros(5, dtype=torch.long))], sgd(model),
            progress=False)
    assert error.value.key == "training.batch_sizes_differ"
    with pytest.raises(CourseError) as error:
        fit(model, loader(), sgd(model), loss_fn=nn.CrossEntropyLoss(reduction="none"),
            progress=False)
    assert error.value.key == "training.loss_not_scalar" and "(16,)" in str(error.value)


def test_ignored_labels_of_cross_entropy_are_no_error():
    model = mlp()
    x, y = quadrants(16)
    y[:3] = -100
    history = fit(model, DataLoader(TensorDataset(x, y), batch_size=8), sgd(model),
                  progress=False)
    assert math.isfinite(history.train_loss[0])


def _one_step(clip_norm=None, clip_value=None, fit_it=True):
    """Weights of a float64 MLP after one SGD step (lr 1, one batch of 32) and the history."""
    x, y = quadrants(32, seed=3)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2)).double()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    if fit_it:
        history = fit(model, [(x.double(), y)], optimizer, progress=False,
                      clip_grad_norm=clip_norm, clip_grad_value=clip_value)
        return [p.detach().clone() for p in model.parameters()], history
    nn.functional.cross_entropy(model(x.double()), y).backward()
    norm = nn.utils.get_total_norm([p.grad for p in model.parameters()])
    if clip_value is not None:
        nn.utils.clip_grad_value_(model.parameters(), clip_value)
    if clip_norm is not None:
        nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
    optimizer.step()
    return [p.detach().clone() for p in model.parameters()], float(norm)


bounds = st.none() | st.floats(1e-3, 10.0)


@given(clip_norm=bounds, clip_value=bounds)
def test_clipping_in_fit_is_torch_clip_grad_norm_and_value_before_the_step(clip_norm,
                                                                           clip_value):
    weights, history = _one_step(clip_norm, clip_value)
    expected, norm_before = _one_step(clip_norm, clip_value, fit_it=False)
    for got, want in zip(weights, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    assert history.step_grad_norm == [pytest.approx(norm_before, rel=1e-12)]


def test_clipping_by_norm_shortens_the_step_and_keeps_the_recorded_norm_unclipped():
    start, _ = _one_step(fit_it=False)  # unclipped step
    torch.manual_seed(0)
    initial = [p.detach().clone() for p in
               nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 2)).double().parameters()]
    clipped, history = _one_step(clip_norm=1e-3)
    step = torch.cat([(w - w0).flatten() for w, w0 in zip(clipped, initial, strict=True)])
    free = torch.cat([(w - w0).flatten() for w, w0 in zip(start, initial, strict=True)])
    # lr 1: the step is -g_clipped, of norm c (torch divides by ||g|| + 1e-6)
    assert step.norm().item() == pytest.approx(1e-3, rel=1e-5)
    assert history.step_grad_norm[0] == pytest.approx(free.norm().item(), rel=1e-9)
    assert torch.nn.functional.cosine_similarity(step, free, dim=0) > 1 - 1e-9


@pytest.mark.parametrize("name", ["clip_grad_norm", "clip_grad_value"])
@pytest.mark.parametrize("value", [0, -1.0, math.inf, math.nan, "1", True])
@pytest.mark.parametrize("lang", LANGUAGES)
def test_bad_clipping_bounds_are_refused_before_training_naming_the_argument(name, value, lang):
    model = mlp()
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(CourseError) as error:
        fit(model, loader(), torch.optim.SGD(model.parameters(), lr=0.1), progress=False,
            lang=lang, **{name: value})
    assert name in str(error.value) and "(0, ∞)" in str(error.value)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
