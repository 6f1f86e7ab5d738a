"""Lab 10 (course_lib.labs.merging): joining two teachers, pruning back to the teacher's
architecture, the two merging algorithms and the budget-matched comparison.
Exact claims in float64."""

import copy

import pytest
import torch
from torch import nn

from course_lib import CourseError, data, losses, models, stacked
from course_lib.labs.merging import algorithms as merging
from course_lib.labs.merging import baselines as mb
from course_lib.labs.merging.joined import join_layer, keep_indices

ARCHITECTURES = {
    "mlp": (lambda: models.mlp([3, 16, 12, 2]), (7, 3)),
    "lenet": (lambda: models.LeNet(), (3, 1, 28, 28)),
    "resnet20": (lambda: models.resnet20(num_classes=5), (2, 3, 32, 32)),
    "resnet18": (lambda: models.resnet18(num_classes=4), (1, 3, 32, 32)),
}


def teacher(make, seed):
    """A teacher in float64 and eval mode, with non-trivial batch-norm statistics."""
    torch.manual_seed(seed)
    model = make().double()
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            nn.init.uniform_(module.weight, 0.5, 1.5)
            nn.init.uniform_(module.bias, -0.5, 0.5)
    return model.eval()


def close_half_of_the_gates(joined, seed=0):
    """Every gate layer: a random half of the units open (test gate 1), the rest closed (0)."""
    g = torch.Generator().manual_seed(seed)
    for gate in joined.gates:
        n = gate.num_features
        log_alpha = torch.full((n,), -10.0, dtype=torch.float64)
        log_alpha[torch.randperm(n, generator=g)[: n // 2]] = 10.0
        with torch.no_grad():
            gate.log_alpha.copy_(log_alpha)


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
def test_joined_model_averages_the_teachers_and_prunes_to_the_teacher_architecture(arch):
    make, shape = ARCHITECTURES[arch]
    a, b = teacher(make, 0), teacher(make, 1)
    x = torch.randn(*shape, dtype=torch.float64)
    joined = merging.join(a, b).eval()
    torch.testing.assert_close(joined(x), (a(x) + b(x)) / 2, rtol=1e-12, atol=1e-12)

    close_half_of_the_gates(joined)
    student = joined.prune().eval()
    assert type(student) is type(a)
    assert models.count_parameters(student) == models.count_parameters(a)
    assert {k: v.shape for k, v in student.state_dict().items()} == {
        k: v.shape for k, v in a.state_dict().items()
    }
    fresh = make().double()
    fresh.load_state_dict(student.state_dict())
    torch.testing.assert_close(fresh.eval()(x), joined(x), rtol=1e-10, atol=1e-12)


def test_two_copies_of_one_teacher_prune_back_to_that_teacher():
    """With copy B's gates closed, every kept index (stem, blocks, downsample skips, fc) points
    at copy A: the student is the teacher, except the fc weights the joined model halved."""
    a = teacher(lambda: models.resnet20(num_classes=3), 0)
    joined = merging.join(a, copy.deepcopy(a))
    for gate in joined.gates:
        n = gate.num_features // 2
        with torch.no_grad():
            gate.log_alpha.copy_(torch.cat([torch.full((n,), 5.0), torch.full((n,), -5.0)]))
    student = joined.prune()
    for key, value in a.state_dict().items():
        expected = value / 2 if key == "fc.weight" else value
        torch.testing.assert_close(student.state_dict()[key], expected, rtol=0, atol=0)


def test_downsample_skip_reads_the_previous_stage_and_writes_the_current_one():
    a, b = (teacher(lambda: models.resnet20(num_classes=3), s) for s in (0, 1))
    joined = merging.join(a, b)
    close_half_of_the_gates(joined, seed=3)
    student = joined.prune()
    previous, current = (keep_indices(g, g.num_features // 2) for g in joined.stream_gates[:2])
    joined_skip = joined.stages[1][0].downsample[0].weight
    torch.testing.assert_close(student.layer2[0].downsample[0].weight,
                               joined_skip[current][:, previous])
    assert joined_skip.shape == (64, 32, 1, 1)
    assert student.layer2[0].downsample[0].weight.shape == (32, 16, 1, 1)


def test_joined_layers_stack_block_diagonal_and_average():
    a, b = nn.Linear(3, 4).double(), nn.Linear(3, 4).double()
    first, hidden, last = (join_layer(a, b, p) for p in ("first", "hidden", "last"))
    assert first.weight.shape == (8, 3) and hidden.weight.shape == (8, 6)
    assert last.weight.shape == (4, 6)
    torch.testing.assert_close(hidden.weight, torch.block_diag(a.weight, b.weight))
    torch.testing.assert_close(last.bias, (a.bias + b.bias) / 2)
    hidden(torch.randn(5, 6, dtype=torch.float64)).square().sum().backward()
    assert hidden.weight.grad[:4, 3:].abs().sum() > 0, "off-diagonal blocks are trainable"


def test_ranking_prefers_the_largest_log_alpha_and_teacher_a_on_ties():
    joined = merging.join(models.mlp([1, 4, 1]), models.mlp([1, 4, 1]))
    gate = joined.gates[0]
    assert keep_indices(gate, 4).tolist() == [0, 1, 2, 3]
    with torch.no_grad():
        gate.log_alpha.copy_(torch.tensor([0.0, 3, 0, 0, 2, 0, 5, 1]))
    assert keep_indices(gate, 4).tolist() == [1, 4, 6, 7]


def test_gate_penalty_asks_every_layer_to_keep_half():
    joined = merging.join(models.LeNet(), models.LeNet())
    keep = torch.stack([g.keep_probability().mean() for g in joined.gates])
    torch.testing.assert_close(joined.gate_penalty(), ((keep - 0.5) ** 2).sum())
    with torch.no_grad():
        for gate in joined.gates:
            gate.log_alpha.fill_(2 / 3 * torch.log(torch.tensor(0.1 / 1.1)).item())
    assert joined.gate_penalty().item() == pytest.approx(0.0, abs=1e-12)
    assert joined.keep_probabilities() == pytest.approx([0.5] * 4)


@pytest.mark.parametrize("arch", ["lenet", "resnet20", "resnet18"])
def test_error_driven_merge_runs_end_to_end_on_convolutional_teachers(arch):
    make, shape = ARCHITECTURES[arch]
    torch.manual_seed(0)
    splits = data.split(torch.rand(8, *shape[1:]), torch.randint(0, 4, (8,)), (0.5, 0.25, 0.25))
    a, b = (teacher(make, s).float() for s in (0, 1))
    result = merging.error_driven_merge(a, b, splits, merge_epochs=1, finetune_epochs=1,
                                        batch_size=4)
    make().load_state_dict(result.student.state_dict())
    assert models.count_parameters(result.student) == models.count_parameters(a)


@pytest.fixture(scope="module")
def toy():
    splits = data.load("sines", seed=0, limit=200)
    make = lambda: models.mlp([1, 8, 8, 1])  # noqa: E731
    teachers = [mb.train_fresh(make, splits, 2, seed=s, lr=1e-2) for s in (0, 1)]
    return splits, make, teachers


def test_error_driven_merge_returns_a_teacher_shaped_student_and_gate_statistics(toy):
    splits, make, (a, b) = toy
    result = merging.error_driven_merge(a, b, splits, merge_epochs=3, finetune_epochs=2,
                                        lr=1e-2)
    make().load_state_dict(result.student.state_dict())
    assert len(result.history["keep"]) == 3 and len(result.history["keep"][0]) == 2
    assert result.history["alpha"] == pytest.approx([1.0, 1.5, 2.25])
    assert [len(k) for k in result.kept] == [8, 8]
    width = 8  # the teachers' hidden width: indices below it are teacher A's units
    assert result.from_a() == [(k < width).float().mean().item() for k in result.kept]
    assert result.epochs == {"merge": 3, "finetune": 2}


def test_from_a_is_the_share_of_kept_units_below_the_teacher_width():
    """Of a joined layer of 2 W units, indices 0 .. W - 1 are teacher A's, W .. 2 W - 1 B's."""
    kept = [torch.tensor([0, 3, 4, 6]), torch.tensor([2, 3, 4]), torch.tensor([0, 1]),
            torch.tensor([2, 3])]  # W = 4, 3, 2, 2: index W itself is B's first unit
    result = merging.MergeResult(student=nn.Identity(), joined=None, kept=kept)
    assert result.from_a() == pytest.approx([2 / 4, 1 / 3, 1.0, 0.0])


def test_greedy_merge_copies_the_first_layer_and_regresses_the_rest(toy):
    splits, make, (a, b) = toy
    joined_before = merging.join(a, b)
    result = merging.greedy_merge(a, b, splits, gate_epochs=2, layer_epochs=1,
                                  finetune_epochs=1, lr=1e-2)
    make().load_state_dict(result.student.state_dict())
    assert len(result.history["layer_loss"]) == 3, "two activations and the output"
    assert result.history["layer_loss"][0] == pytest.approx(0.0, abs=1e-10)
    assert result.epochs == {"merge": 2 + 3, "finetune": 1}
    for before, after in zip(joined_before.parameters(), result.joined.parameters(),
                             strict=True):
        if before.dim() > 1:
            torch.testing.assert_close(before, after, msg="greedy gates leave the teachers")


def test_comparison_spends_the_same_budget_and_formats_the_seed_table(toy):
    splits, make, _ = toy
    rows = mb.compare(make, splits, teacher_epochs=2, merge_epochs=2, finetune_epochs=1,
                      seeds=(0,), lr=1e-2)
    methods = [r["method"] for r in rows]
    assert methods == ["teacher", "teacher", *mb.METHODS[1:]]
    budget = 2 * 2 + 2 + 1
    for row in rows:
        if row["method"] == "bo3":
            assert row["total"] == 3 * (budget // 3) == 6
        elif row["method"] in mb.EQUAL_BUDGET:
            assert row["total"] == budget
        assert row["test_acc"] is None and row["test_loss"] > 0
    summary = mb.summarize(rows)
    assert summary[0]["n"] == 2 and summary[0]["metric"] == "test_loss"
    table = mb.format_table(summary, lang="en")
    assert "one model" in table and "3 × 2" in table and "2 + 2" in table
    reference = mb.table(mb.RESNET18_IMAGENET, lang="sk")
    for value in ("69,76\u00a0%", "70,28\u00a0%", "70,47\u00a0%"):
        assert value in str(reference) and value in reference._repr_html_()


def test_runs_of_a_comparison_do_not_depend_on_the_other_seeds(toy):
    splits, make, _ = toy
    kw = {"teacher_epochs": 2, "merge_epochs": 2, "finetune_epochs": 1, "lr": 1e-2,
          "methods": ("teacher", "error_driven", "one_model")}
    alone = mb.compare(make, splits, seeds=(1,), **kw)
    both = [r for r in mb.compare(make, splits, seeds=(0, 1), **kw) if r["seed"] == 1]
    for a, b in zip(alone, both, strict=True):
        assert a["method"] == b["method"]
        assert a["test_loss"] == pytest.approx(b["test_loss"], rel=1e-5)


def test_ensemble_distillation_of_one_teacher_is_plain_distillation():
    torch.manual_seed(0)
    t = nn.Linear(5, 3).double()
    s = nn.Linear(5, 3).double()
    x, y = torch.randn(8, 5, dtype=torch.float64), torch.randint(0, 3, (8,))
    loss = mb.ensemble_loss([t, t], regression=False, temperature=3.0, alpha=0.7)
    expected = losses.distillation_loss(s(x), t(x), y, 3.0, 0.7)
    torch.testing.assert_close(loss(s, x, y), expected)


@pytest.mark.parametrize(
    ("call", "key"),
    [
        (lambda: merging.join(models.mlp([1, 4, 1]), models.mlp([1, 5, 1])),
         "merging.different_teachers"),
        (lambda: merging.join(models.mlp([1, 4, 1]), models.LeNet()),
         "merging.different_teachers"),
        (lambda: merging.join(models.mlp([1, 1]), models.mlp([1, 1])),
         "merging.unsupported_model"),
        (lambda: merging.join(nn.Linear(1, 1), nn.Linear(1, 1)), "merging.unsupported_model"),
        (lambda: join_layer(nn.Linear(1, 1), nn.Linear(1, 1), "middle"), "merging.bad_position"),
    ],
)
def test_bad_models_raise_a_localized_course_error(call, key):
    with pytest.raises(CourseError) as err:
        call()
    assert err.value.key == key


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"merge_epochs": -1}, "merging.bad_epochs"),
        ({"finetune_epochs": 1.5}, "merging.bad_epochs"),
        ({"lr": 0.0}, "merging.bad_lr"),
        ({"alpha": -1.0}, "merging.not_non_negative"),
        ({"alpha_growth": 0.5}, "merging.bad_growth"),
        ({"batch_size": 0}, "merging.not_positive"),
        ({"gate_lr": 0.0}, "merging.bad_lr"),
    ],
)
def test_bad_hyper_parameters_raise_a_localized_course_error(toy, kwargs, key):
    splits, _, (a, b) = toy
    args = {"merge_epochs": 0, "finetune_epochs": 0} | kwargs
    with pytest.raises(CourseError) as err:
        merging.error_driven_merge(a, b, splits, **args)
    assert err.value.key == key


def test_bad_comparison_arguments_raise_a_localized_course_error(toy):
    splits, make, _ = toy
    with pytest.raises(CourseError, match="bo4"):
        mb.compare(make, splits, teacher_epochs=1, merge_epochs=1, finetune_epochs=1,
                   methods=("bo4",))
    with pytest.raises(CourseError) as err:
        mb.compare(make, splits, teacher_epochs=0, merge_epochs=1, finetune_epochs=1)
    assert err.value.key == "merging.not_positive"


def imitation_errors(student, joined, x):
    """Per activation call and for the output: the mean squared error between the student's
    values (training mode, as during the regression) and the greedy merge's targets, the joined
    teachers' features of the units kept by the gates and the joined teachers' output."""

    def record(model):
        values = []
        hooks = [m.register_forward_hook(lambda _m, _inputs, out: values.append(out))
                 for m in model.modules() if isinstance(m, merging.ACTIVATIONS)]
        with torch.no_grad():
            out = model(x)
        for hook in hooks:
            hook.remove()
        return [*values, out]

    joined.eval()
    joined.use_gates = False
    *features, out = record(joined)
    joined.use_gates = True
    keeps = [keep_indices(g, g.num_features // 2) for g in joined.point_gates()]
    targets = [f[:, k] for f, k in zip(features, keeps, strict=True)] + [out]
    values = record(student.train())
    return [((v - t) ** 2).mean().item() for v, t in zip(values, targets, strict=True)]


@pytest.mark.parametrize(("arch", "points", "epochs"), [("lenet", 4, 3), ("resnet20", 1 + 2 * 9, 1),
                                                        ("resnet18", 1 + 2 * 8, 1)])
def test_greedy_merge_imitates_every_activation_of_a_convolutional_student(arch, points, epochs):
    """One regression step per ReLU call of the teacher (LeNet: 4; ResNet-20 and ResNet-18: the
    stem and two per block), then one for the output; the student keeps the teacher's
    architecture, and at every point it ends closer to its target than the pruned joined model
    it starts from (except where that one is exact already: LeNet's first layer is copied)."""
    make, shape = ARCHITECTURES[arch]
    torch.manual_seed(0)
    x = torch.rand(8, *shape[1:])
    splits = data.split(x, torch.randint(0, 4, (8,)), (0.5, 0.25, 0.25))
    a, b = (teacher(make, s).float() for s in (0, 1))
    result = merging.greedy_merge(a, b, splits, gate_epochs=1, layer_epochs=epochs,
                                  finetune_epochs=0, batch_size=4)
    assert len(result.history["layer_loss"]) == points + 1
    make().load_state_dict(result.student.state_dict())
    x_train = splits.train[:][0]
    before = imitation_errors(result.joined.prune(), result.joined, x_train)
    after = imitation_errors(result.student, result.joined, x_train)
    for point, (start, end) in enumerate(zip(before, after, strict=True)):
        assert end < start or start == end == 0.0, (point, start, end)
    assert sum(start > 0 for start in before) >= points


def test_greedy_split_spends_exactly_the_merging_epochs():
    for merge_epochs, points in ((1, 3), (2, 20), (50, 3), (7, 5)):
        gate, layer = merging.greedy_split(merge_epochs, points)
        assert gate == -(-merge_epochs // 2)
        assert gate + layer * points == pytest.approx(merge_epochs)


def test_a_fraction_of_an_epoch_per_layer_takes_that_share_of_the_batches(toy):
    splits, _, (a, b) = toy
    joined = merging.join(a, b)
    student = joined.prune()
    steps = []
    student.register_forward_pre_hook(lambda *args: steps.append(1))
    merging.imitate_layers(student, joined, splits, 0.5, batch_size=10, lr=1e-2)
    batches = -(-len(splits.train) // 10)
    points = 3
    assert len(steps) == points * round(0.5 * batches) + 1  # + the parameter assignment pass


def test_fast_loaders_give_the_batches_of_splits_loaders(toy):
    splits, _, _ = toy
    fast, plain = merging.loaders(splits, 16, seed=3), splits.loaders(16, seed=3)
    for ours, theirs in zip(fast, plain, strict=True):
        for (x, y), (x2, y2) in zip(ours, theirs, strict=True):
            torch.testing.assert_close(x, x2, rtol=0, atol=0)
            torch.testing.assert_close(y, y2, rtol=0, atol=0)


def test_batch_norm_models_on_cuda_train_one_by_one():
    splits = data.split(torch.rand(8, 3, 32, 32), torch.arange(8) % 2, (0.5, 0.25, 0.25))
    resnet, lenet = models.resnet20(num_classes=2), models.LeNet()
    assert merging.can_stack(resnet, splits, "cpu") and merging.can_stack(lenet, splits, "cuda")
    assert not merging.can_stack(resnet, splits, "cuda")
    subset = data.Splits(torch.utils.data.Subset(splits.train, [0, 1]), splits.val, splits.test)
    assert not merging.can_stack(lenet, subset, "cpu")


def test_stacked_distillation_equals_distilling_each_run_alone():
    """Float64: every run's student, trained together with the others, is the student trained
    alone on its own teachers' ensemble, step by step as ``stacked.Orders`` shuffles."""
    torch.manual_seed(0)
    x = torch.randn(40, 3, dtype=torch.float64)
    labels = data.split(x, (x.sum(1) > 0).long(), (0.5, 0.25, 0.25))
    make = lambda: models.mlp([3, 6, 2]).double()  # noqa: E731
    pairs = [[mb.fresh_runs(make, labels, 1, seeds=[s])[0] for s in (k, k + 1)]
             for k in (10, 20)]
    seeds = [5, 6]
    students = mb.distill_runs(make, labels, pairs, 2, seeds=seeds, lr=1e-2, batch_size=8)
    for student, pair, seed in zip(students, pairs, seeds, strict=True):
        (reference,) = stacked.seeded(make, [seed])
        optimizer = torch.optim.Adam(reference.parameters(), lr=1e-2)
        loss = mb.ensemble_loss(pair, regression=False)
        xt, yt = labels.train.tensors
        orders = stacked.Orders([seed], len(yt))
        for _ in range(2):
            order = orders.epoch()[0]
            for start in range(0, len(yt), 8):
                idx = order[start: start + 8]
                optimizer.zero_grad()
                loss(reference, xt[idx], yt[idx]).backward()
                optimizer.step()
        for p, q in zip(student.parameters(), reference.parameters(), strict=True):
            torch.testing.assert_close(p, q, rtol=1e-10, atol=1e-12)


def test_task_is_read_from_any_dataset_of_pairs():
    """Image-folder datasets and subsets (course_lib.datasets) have no ``tensors``."""
    x = torch.rand(6, 1)
    labels = data.split(x, torch.arange(6) % 2, (0.5, 0.25, 0.25))
    subset = torch.utils.data.Subset(labels.train, [0, 1])
    assert not merging.is_regression(data.Splits(subset, labels.val, labels.test))
    assert merging.is_regression(data.split(x, x, (0.5, 0.25, 0.25)))


@pytest.mark.parametrize("method", ["error_driven", "greedy"])
def test_a_merge_on_an_empty_training_split_is_refused_before_any_step(method):
    empty = torch.utils.data.TensorDataset(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long))
    full = torch.utils.data.TensorDataset(torch.zeros(4, 3), torch.zeros(4, dtype=torch.long))
    splits = data.Splits(empty, full, full)
    a, b = (models.mlp([3, 8, 2]) for _ in range(2))
    with pytest.raises(CourseError) as err:
        if method == "error_driven":
            merging.error_driven_merge(a, b, splits, merge_epochs=1, finetune_epochs=1,
                                       batch_size=2)
        else:
            merging.greedy_merge(a, b, splits, gate_epochs=1, layer_epochs=1, finetune_epochs=1,
                                 batch_size=2)
    assert err.value.key == "data.no_train_examples"
