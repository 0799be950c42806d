"""Tests for visdomkit.models."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from visdomkit.models import DeepMLP, SimpleCNN, count_parameters


def test_simple_cnn_parameter_count() -> None:
    assert count_parameters(SimpleCNN()) == 1_199_882


def test_simple_cnn_layers_in_order() -> None:
    model = SimpleCNN()
    assert isinstance(model, nn.Module)
    layers = dict(model.named_children())
    assert list(layers) == [
        "conv1",
        "relu1",
        "conv2",
        "relu2",
        "pool",
        "flatten",
        "fc1",
        "relu3",
        "fc2",
    ]
    expected_types = [
        nn.Conv2d,
        nn.ReLU,
        nn.Conv2d,
        nn.ReLU,
        nn.MaxPool2d,
        nn.Flatten,
        nn.Linear,
        nn.ReLU,
        nn.Linear,
    ]
    assert [type(layer) for layer in layers.values()] == expected_types
    conv1, conv2 = layers["conv1"], layers["conv2"]
    assert (conv1.in_channels, conv1.out_channels, conv1.kernel_size) == (1, 32, (3, 3))
    assert (conv2.in_channels, conv2.out_channels, conv2.kernel_size) == (32, 64, (3, 3))
    assert layers["pool"].kernel_size == 2
    assert (layers["fc1"].in_features, layers["fc1"].out_features) == (9216, 128)
    assert (layers["fc2"].in_features, layers["fc2"].out_features) == (128, 10)


def test_simple_cnn_parameter_names_are_readable() -> None:
    model = SimpleCNN()
    names = [name for name, _ in model.named_parameters()]
    assert names == [
        f"{layer}.{kind}"
        for layer in ("conv1", "conv2", "fc1", "fc2")
        for kind in ("weight", "bias")
    ]
    # state_dict keys agree, so checkpoints use the same names as plots.
    assert list(model.state_dict()) == names


def test_simple_cnn_forward_shape() -> None:
    logits = SimpleCNN()(torch.randn(5, 1, 28, 28))
    assert logits.shape == (5, 10)


def test_deep_mlp_default_layers() -> None:
    model = DeepMLP()
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 20
    assert all((m.in_features, m.out_features) == (512, 512) for m in linears)
    # ReLU between layers, none after the last.
    assert sum(isinstance(m, nn.ReLU) for m in model.modules()) == 19
    assert isinstance(list(model.children())[-1], nn.Linear)
    assert len(list(model.parameters())) == 40
    assert count_parameters(model) == 20 * (512 * 512 + 512)


def test_deep_mlp_forward_batch_64() -> None:
    out = DeepMLP()(torch.randn(64, 512))
    assert out.shape == (64, 512)
    assert torch.isfinite(out).all()


def test_deep_mlp_custom_size() -> None:
    model = DeepMLP(depth=3, width=8)
    assert (model.depth, model.width) == (3, 8)
    assert [name for name, _ in model.named_parameters()] == [
        "fc1.weight",
        "fc1.bias",
        "fc2.weight",
        "fc2.bias",
        "fc3.weight",
        "fc3.bias",
    ]
    assert model(torch.randn(2, 8)).shape == (2, 8)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"depth": 0}, "depth"),
        ({"depth": -3}, "depth"),
        ({"depth": 2.5}, "depth"),
        ({"depth": True}, "depth"),
        ({"width": 0}, "width"),
        ({"width": "512"}, "width"),
    ],
)
def test_deep_mlp_rejects_bad_arguments(kwargs: dict, name: str) -> None:
    value = next(iter(kwargs.values()))
    with pytest.raises(ValueError, match=name) as info:
        DeepMLP(**kwargs)
    assert repr(value) in str(info.value)


def test_count_parameters_trainable_only() -> None:
    model = SimpleCNN()
    for param in model.conv1.parameters():
        param.requires_grad_(False)
    frozen = 32 * 1 * 3 * 3 + 32
    assert count_parameters(model) == 1_199_882 - frozen
    assert count_parameters(model, trainable_only=False) == 1_199_882
