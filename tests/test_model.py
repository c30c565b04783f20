import math

import pytest
import torch

from gni.config import profile_config
from gni.model import GPT, GPTConfig, count_parameters
from gni.train import build_model


@pytest.mark.parametrize(
    ("dataset", "vocab_size", "expected"),
    [("shakespeare_char", 65, 10_646_784), ("enwik8", 205, 10_700_544), ("text8", 27, 10_632_192)],
)
def test_paper_architecture_non_embedding_parameter_count(dataset, vocab_size, expected):
    model = build_model(profile_config(dataset, "paper"), vocab_size)
    assert count_parameters(model) == expected
    assert count_parameters(model, non_embedding=False) == expected + 256 * 384


def _tiny(dropout: float = 0.0) -> GPTConfig:
    return GPTConfig(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16, dropout=dropout)


def test_forward_shapes_and_loss_in_nats():
    model = GPT(_tiny(), generator=torch.Generator().manual_seed(0))
    idx = torch.randint(11, (3, 8))
    logits, loss = model(idx, idx)
    assert logits.shape == (3, 8, 11)
    # at initialisation the prediction is close to uniform over the vocabulary
    assert loss.item() == pytest.approx(math.log(11), rel=0.15)
    assert model(idx)[1] is None


def test_weight_tying_and_no_biases():
    model = GPT(_tiny(), generator=torch.Generator().manual_seed(0))
    assert model.transformer.wte.weight is model.lm_head.weight
    assert all(not name.endswith("bias") for name, _ in model.named_parameters())


def test_init_is_determined_by_the_generator_and_follows_gpt2_scales():
    config = GPTConfig(vocab_size=50, block_size=64, n_layer=4, n_head=4, n_embd=256)
    a = GPT(config, generator=torch.Generator().manual_seed(1))
    b = GPT(config, generator=torch.Generator().manual_seed(1))
    c = GPT(config, generator=torch.Generator().manual_seed(2))
    for (name, pa), pb, pc in zip(
        a.named_parameters(), b.parameters(), c.parameters(), strict=True
    ):
        assert torch.equal(pa, pb), name
        if pa.dim() >= 2:
            assert not torch.equal(pa, pc), name
    std = a.transformer.h[0].attn.c_proj.weight.std().item()
    assert std == pytest.approx(0.02 / math.sqrt(2 * 4), rel=0.05)
    assert a.transformer.h[0].mlp.c_fc.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert a.transformer.wpe.weight.std().item() == pytest.approx(0.02, rel=0.05)


def test_attention_is_causal():
    model = GPT(_tiny(), generator=torch.Generator().manual_seed(0)).eval()
    idx = torch.randint(11, (1, 8))
    changed = idx.clone()
    changed[0, 5] = (idx[0, 5] + 1) % 11
    a, _ = model(idx)
    b, _ = model(changed)
    assert torch.allclose(a[0, :5], b[0, :5])
    assert not torch.allclose(a[0, 5:], b[0, 5:])


def test_sequence_longer_than_block_size_is_rejected():
    model = GPT(_tiny(), generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="block_size=8"):
        model(torch.zeros(1, 9, dtype=torch.long))
