"""nnexp's numpy backpropagation engine: networks trained with flat preallocated buffers.

Pure numpy. Quick start::

    rng = np.random.default_rng(0)
    model = build_mlp(784, [256, 128], 10, rng=rng)
    opt = make_optimizer("adam", model, lr=1e-3)
    losses = fit(model, make_loss("cross_entropy"), opt, X, y, epochs=5, batch_size=128, rng=rng)
"""

from .activations import (
    ACTIVATIONS,
    Activation,
    Identity,
    LeakyReLU,
    ReLU,
    Sigmoid,
    Tanh,
    make_activation,
)
from .batchnorm import BatchNorm1d
from .dropout import Dropout
from .gradcheck import GradientCheck, gradient_check
from .initialisers import INITIALISERS, initialise
from .layers import Dense, ParameterLayer
from .losses import (
    LOSSES,
    BCEWithLogitsLoss,
    MAELoss,
    MSELoss,
    SoftmaxCrossEntropyLoss,
    make_loss,
    softmax,
)
from .network import (
    BUILD_KEYS,
    DTYPES,
    Sequential,
    build_mlp,
    dense_layer_names,
    parameter_layer_names,
)
from .optimizers import (
    OPTIMIZERS,
    SGD,
    Adam,
    AdamW,
    Momentum,
    Nesterov,
    RMSProp,
    clip_grad_norm,
    make_optimizer,
    optimizer_buffers,
)
from .schedules import SCHEDULES, make_schedule
from .serialization import load_model, load_weights, save_weights
from .training import fit, prepare_data, train_epoch, train_step

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "BUILD_KEYS",
    "DTYPES",
    "INITIALISERS",
    "LOSSES",
    "OPTIMIZERS",
    "SCHEDULES",
    "Adam",
    "AdamW",
    "BCEWithLogitsLoss",
    "BatchNorm1d",
    "Dense",
    "Dropout",
    "GradientCheck",
    "Identity",
    "LeakyReLU",
    "MAELoss",
    "MSELoss",
    "Momentum",
    "Nesterov",
    "ParameterLayer",
    "RMSProp",
    "ReLU",
    "SGD",
    "Sequential",
    "Sigmoid",
    "SoftmaxCrossEntropyLoss",
    "Tanh",
    "build_mlp",
    "dense_layer_names",
    "parameter_layer_names",
    "clip_grad_norm",
    "fit",
    "gradient_check",
    "initialise",
    "load_model",
    "load_weights",
    "make_activation",
    "make_loss",
    "make_optimizer",
    "optimizer_buffers",
    "make_schedule",
    "prepare_data",
    "save_weights",
    "softmax",
    "train_epoch",
    "train_step",
]
