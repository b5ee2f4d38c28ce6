"""Dropout and BatchNorm1d against PyTorch in float64: forward and backward in training (dropout
given torch's own mask), evaluation, the running statistics, and a few optimizer steps of
networks that hold both; plus the gradient check of both against finite differences."""

import numpy as np
import pytest

from nnexp.engine import (
    BatchNorm1d,
    Dense,
    Dropout,
    ReLU,
    Sequential,
    Tanh,
    gradient_check,
    make_loss,
    make_optimizer,
)

torch = pytest.importorskip(
    "torch", reason="PyTorch is not installed; pip install -e '.[test]' brings torch==2.13.0")
F = torch.nn.functional
P = 0.3


class MaskFeed:
    """A stand-in Generator whose uniform draws are 1 where `keep` is true and 0 elsewhere:
    Dropout keeps u >= p, so it keeps exactly the entries torch kept."""

    def __init__(self) -> None:
        self.keep: list[np.ndarray] = []

    def random(self, dtype=np.float64, out=None):
        out[...] = self.keep.pop(0)
        return out


class TorchDropout(torch.nn.Module):
    """torch's dropout under a fixed seed per call, so the mask it draws can be read first."""

    def __init__(self, p: float, seeds: list[int]) -> None:
        super().__init__()
        self.p, self.seeds = p, seeds

    def forward(self, x):
        if self.training:
            torch.manual_seed(self.seeds.pop(0))
        return F.dropout(x, self.p, training=self.training)


def torch_keep(shape, seed: int) -> np.ndarray:
    """The entries torch's dropout keeps for a batch of `shape` drawn after manual_seed(seed)."""
    torch.manual_seed(seed)
    return F.dropout(torch.ones(shape, dtype=torch.float64), P, training=True).numpy() != 0


def twin_of(model: Sequential, seeds: list[int]):
    """The model as torch modules with the same float64 parameters and running statistics."""
    modules = []
    for layer in model.layers:
        if isinstance(layer, Dense):
            m = torch.nn.Linear(layer.n_inputs, layer.n_outputs, dtype=torch.float64)
            with torch.no_grad():
                m.weight.copy_(torch.from_numpy(layer.weight.T.copy()))
                m.bias.copy_(torch.from_numpy(layer.bias.copy()))
        elif isinstance(layer, BatchNorm1d):
            m = torch.nn.BatchNorm1d(layer.n_inputs, eps=layer.eps, momentum=layer.momentum,
                                     dtype=torch.float64)
            with torch.no_grad():
                for name in ("weight", "bias"):
                    getattr(m, name).copy_(torch.from_numpy(getattr(layer, name).copy()))
                m.running_mean.copy_(torch.from_numpy(layer.running_mean.copy()))
                m.running_var.copy_(torch.from_numpy(layer.running_var.copy()))
        elif isinstance(layer, Dropout):
            m = TorchDropout(layer.p, seeds)
        else:
            m = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh}[layer.name]()
        modules.append(m)
    return torch.nn.Sequential(*modules)


def torch_tensors(twin) -> dict[str, np.ndarray]:
    """{"<kind><i>.<name>": array} of the twin's parameters, gradients and running statistics,
    named like the engine's (layer1.weight transposed back, bn1.running_mean, ...)."""
    out, counts = {}, {"layer": 0, "bn": 0}
    for m in twin:
        label = {torch.nn.Linear: "layer", torch.nn.BatchNorm1d: "bn"}.get(type(m))
        if label is None:
            continue
        counts[label] += 1
        name = f"{label}{counts[label]}"
        for part in ("weight", "bias"):
            tensor = getattr(m, part)
            flip = (lambda a: a.T) if label == "layer" and part == "weight" else (lambda a: a)
            out[f"{name}.{part}"] = flip(tensor.detach().numpy())
            if tensor.grad is not None:
                out[f"grad:{name}.{part}"] = flip(tensor.grad.numpy())
        if label == "bn":
            out[f"{name}.running_mean"] = m.running_mean.numpy()
            out[f"{name}.running_var"] = m.running_var.numpy()
    return out


def network(rng, feed=None, norm_first: bool = True) -> Sequential:
    """Dense, BatchNorm1d, ReLU, Dropout, Dense, BatchNorm1d, Tanh, Dense: both new layers
    mid-network (with `norm_first` false each BatchNorm1d comes after its activation)."""
    first = [BatchNorm1d(7, dtype="float64"), ReLU()]
    second = [BatchNorm1d(6, momentum=0.3, dtype="float64"), Tanh()]
    if not norm_first:
        first, second = first[::-1], second[::-1]
    layers = [Dense(5, 7, rng=rng, dtype="float64"), *first, Dropout(P, feed or rng),
              Dense(7, 6, rng=rng, dtype="float64"), *second,
              Dense(6, 3, rng=rng, dtype="float64")]
    model = Sequential(layers, dtype="float64")
    model.params[...] += rng.normal(scale=0.2, size=model.n_params)  # γ ≠ 1, β ≠ 0, b ≠ 0
    for value in model.named_state().values():
        value[...] = rng.uniform(0.5, 1.5, size=value.shape)  # running stats not at their start
    return model


def close(ours: np.ndarray, theirs: np.ndarray, what: str, floor: float = 1e-300) -> None:
    """Largest difference over the size of the largest value (at least `floor`) below 1e-12."""
    scale = max(float(np.abs(theirs).max()), floor)
    error = float(np.abs(ours - theirs).max()) / scale
    assert error < 1e-12, (what, error)


def train_step(model, twin, feed, X, y, seed):
    """One forward/backward on both, dropout given torch's mask; the engine's outputs."""
    feed.keep.append(torch_keep((X.shape[0], 7), seed))
    twin.train()
    next(m for m in twin if isinstance(m, TorchDropout)).seeds.append(seed)
    loss_fn = make_loss("cross_entropy")
    outputs = model.forward(X).copy()
    model.backward(loss_fn(outputs, y)[1])
    twin.zero_grad()
    t_out = twin(torch.from_numpy(X))
    F.cross_entropy(t_out, torch.from_numpy(y)).backward()
    close(outputs, t_out.detach().numpy(), "outputs")
    return outputs


@pytest.mark.parametrize("seed", range(4))
def test_training_forward_backward_and_running_stats_match_torch(seed):
    rng, feed = np.random.default_rng(seed), MaskFeed()
    model = network(rng, feed)
    twin = twin_of(model, [])
    X, y = rng.normal(size=(9, 5)) * 3 + 1, rng.integers(0, 3, 9)
    train_step(model, twin, feed, X, y, seed)
    theirs = torch_tensors(twin)
    # a Dense bias right before a BatchNorm1d has gradient 0 (the mean is taken away): both
    # give rounding noise there, judged against the model's largest gradient
    largest = max(float(np.abs(v).max()) for k, v in theirs.items() if k.startswith("grad:"))
    for name, grad in model.named_gradients().items():
        close(grad, theirs[f"grad:{name}"], f"gradient of {name}", 1e-3 * largest)
    for name, value in model.named_state().items():
        close(value, theirs[name], name)


def test_dropout_forward_and_backward_use_the_mask_and_scale_as_torch():
    rng, feed = np.random.default_rng(11), MaskFeed()
    layer = Dropout(P, feed)
    x = torch.tensor(rng.normal(size=(20, 8)), requires_grad=True)
    keep = torch_keep((20, 8), 5)
    feed.keep.append(keep)
    torch.manual_seed(5)
    t_y = F.dropout(x, P, training=True)
    g = rng.normal(size=(20, 8))
    t_y.backward(torch.from_numpy(g))
    y = layer.forward(x.detach().numpy().copy())
    np.testing.assert_array_equal(y, t_y.detach().numpy())  # bit for bit
    np.testing.assert_array_equal(layer.backward(g.copy()), x.grad.numpy())
    assert 0.5 < keep.mean() < 0.9  # the mask is a real one
    np.testing.assert_array_equal(layer.predict(x.detach().numpy()), x.detach().numpy())


def test_batchnorm_input_gradient_matches_torch():
    rng = np.random.default_rng(3)
    layer = BatchNorm1d(4, dtype="float64")
    layer.weight[...] = rng.normal(size=4)
    layer.bias[...] = rng.normal(size=4)
    x = torch.tensor(rng.normal(size=(6, 4)) * 2 - 1, requires_grad=True)
    bn = torch.nn.BatchNorm1d(4, dtype=torch.float64)
    with torch.no_grad():
        bn.weight.copy_(torch.from_numpy(layer.weight.copy()))
        bn.bias.copy_(torch.from_numpy(layer.bias.copy()))
    g = rng.normal(size=(6, 4))
    bn(x).backward(torch.from_numpy(g))
    layer.forward(x.detach().numpy())
    close(layer.backward(g), x.grad.numpy(), "dL/dX")
    close(layer.grad_weight, bn.weight.grad.numpy(), "dγ")
    close(layer.grad_bias, bn.bias.grad.numpy(), "dβ")


def test_evaluation_matches_torch_eval_after_training_steps():
    rng, feed = np.random.default_rng(21), MaskFeed()
    model = network(rng, feed)
    twin = twin_of(model, [])
    for step in range(3):
        X, y = rng.normal(size=(8, 5)), rng.integers(0, 3, 8)
        train_step(model, twin, feed, X, y, 100 + step)
    twin.eval()
    X = rng.normal(size=(10, 5))
    with torch.no_grad():
        theirs = twin(torch.from_numpy(X)).numpy()
    close(model.predict(X), theirs, "evaluation outputs")


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_optimizer_steps_match_torch(name):
    rng, feed = np.random.default_rng(31), MaskFeed()
    # a Dense bias right before a BatchNorm1d has gradient 0 plus rounding noise, which Adam
    # scales up to steps of size lr: the normalisation comes after the activations here
    model = network(rng, feed, norm_first=False)
    twin = twin_of(model, [])
    opt = make_optimizer(name, model, lr=0.05)
    t_opt = (torch.optim.SGD(twin.parameters(), lr=0.05) if name == "sgd"
             else torch.optim.Adam(twin.parameters(), lr=0.05))
    for step in range(4):
        X, y = rng.normal(size=(8, 5)), rng.integers(0, 3, 8)
        train_step(model, twin, feed, X, y, 200 + step)
        opt.step()
        t_opt.step()
    theirs = torch_tensors(twin)
    for key, value in {**model.named_parameters(), **model.named_state()}.items():
        close(value, theirs[key], f"{key} after 4 {name} steps")


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_gradient_check_of_dropout_and_batchnorm(loss):
    rng = np.random.default_rng(41)
    model = network(rng)  # its dropout draws from rng: the check holds one mask
    X = rng.normal(size=(7, 5))
    y = rng.integers(0, 3, 7) if loss == "cross_entropy" else rng.normal(size=(7, 3))
    result = gradient_check(model, make_loss(loss), X, y)
    assert set(result) == set(model.named_parameters())
    assert max(result.values()) < 1e-6, result


def test_a_batch_of_one_row_normalises_to_beta_without_nan():
    layer = BatchNorm1d(3, dtype="float64")
    layer.bias[...] = [1.0, 2.0, 3.0]
    y = layer.forward(np.array([[5.0, -1.0, 0.5]]))
    np.testing.assert_array_equal(y, [[1.0, 2.0, 3.0]])
    assert np.isfinite(layer.running_var).all()
