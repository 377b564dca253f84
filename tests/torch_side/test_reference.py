"""The reference (torch_side/reference.py): the seed's ``Model``, its state_dict names and torch's
default initialisation under a seed."""

from __future__ import annotations

import numpy as np

from gradcheck.core.spec import SEED_LAYERS, NetSpec
from gradcheck.torch_side import reference


def test_seed_model_state_dict_keys_and_init() -> None:
    import torch

    torch.manual_seed(0)
    model = reference.Model()
    assert list(model.state_dict()) == [
        "dense.0.weight",
        "dense.0.bias",
        "dense.2.weight",
        "dense.2.bias",
        "dense.4.weight",
        "dense.4.bias",
    ]
    assert [type(m).__name__ for m in model.dense] == [
        "Linear",
        "Sigmoid",
        "Linear",
        "Sigmoid",
        "Linear",
    ]
    # init_state is torch's default init after manual_seed, and leaves the global RNG alone.
    state = reference.init_state(NetSpec(SEED_LAYERS), 0)
    after = torch.rand(1)
    torch.manual_seed(0)
    model = reference.Model()
    np.testing.assert_array_equal(state["W2"], model.state_dict()["dense.2.weight"].numpy())
    torch.manual_seed(0)
    reference.Model()
    assert torch.rand(1) == after
