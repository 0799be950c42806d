"""Small reference models used by the examples, tests and the gradient-logging benchmark.

``SimpleCNN`` is the classic PyTorch MNIST example network; ``DeepMLP`` is a deliberately deep
stack of square linear layers, so that per-parameter gradient statistics have many tensors to
work on.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

__all__ = ["DeepMLP", "SimpleCNN", "count_parameters"]


class SimpleCNN(nn.Sequential):
    """Two-convolution MNIST classifier (1,199,882 parameters).

    It is an ``nn.Sequential`` (hence an ``nn.Module``) with named children, so parameter and
    ``state_dict`` names are short and stable (``conv1.weight``, ``conv1.bias``, ...,
    ``fc2.bias``: 8 tensors), which keeps plot legends readable::

        conv1    Conv2d(1, 32, 3)   -> relu1
        conv2    Conv2d(32, 64, 3)  -> relu2 -> pool MaxPool2d(2) -> flatten
        fc1      Linear(9216, 128)  -> relu3
        fc2      Linear(128, 10)

    Input is ``(N, 1, 28, 28)``; output is ``(N, 10)`` unnormalized logits.
    """

    def __init__(self) -> None:
        super().__init__(
            OrderedDict(
                [
                    ("conv1", nn.Conv2d(1, 32, kernel_size=3)),
                    ("relu1", nn.ReLU()),
                    ("conv2", nn.Conv2d(32, 64, kernel_size=3)),
                    ("relu2", nn.ReLU()),
                    ("pool", nn.MaxPool2d(2)),
                    ("flatten", nn.Flatten()),
                    # 28 -> 26 -> 24 after the two 3x3 convolutions, 12 after pooling: 64*12*12.
                    ("fc1", nn.Linear(9216, 128)),
                    ("relu3", nn.ReLU()),
                    ("fc2", nn.Linear(128, 10)),
                ]
            )
        )


class DeepMLP(nn.Sequential):
    """A deep stack of ``width x width`` linear layers with ReLU in between.

    With the defaults this is 20 ``Linear(512, 512)`` layers (40 parameter tensors, about 5.3 M
    parameters): the benchmark model for gradient-norm logging overhead. There is no activation
    after the last layer. Parameters are named ``fc1.weight``, ``fc1.bias``, ..., ``fc20.bias``.

    Args:
        depth: Number of linear layers; a positive int.
        width: Input and output features of every layer; a positive int.

    Raises:
        ValueError: If ``depth`` or ``width`` is not a positive int.
    """

    def __init__(self, depth: int = 20, width: int = 512) -> None:
        for name, value in (("depth", depth), ("width", width)):
            # bool is an int subclass, but DeepMLP(depth=True) is certainly a mistake.
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        layers: list[tuple[str, nn.Module]] = []
        for i in range(1, depth + 1):
            layers.append((f"fc{i}", nn.Linear(width, width)))
            if i < depth:
                layers.append((f"relu{i}", nn.ReLU()))
        super().__init__(OrderedDict(layers))
        self.depth = depth
        self.width = width


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Count the scalar parameters of a model.

    Args:
        model: Any ``nn.Module``.
        trainable_only: Count only parameters with ``requires_grad=True``.

    Returns:
        The total number of parameter elements.
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
