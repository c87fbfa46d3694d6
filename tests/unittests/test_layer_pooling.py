"""Head input choices: one layer, the mean of a layer range, a learned weighted sum (SUPERB)."""
import pytest
import torch

from lobes import build_backbone
from lobes.cache import FeatureCache
from lobes.heads import AudioClassifier, LinearHead
from lobes.layer_pooling import LayerMean, SingleLayer, WeightedLayerSum, build_layer_choice


@pytest.fixture(scope="module")
def backbone():
    torch.manual_seed(0)
    return build_backbone("hubert", config="tiny").eval().requires_grad_(False)


def _model(bb, layer):
    torch.manual_seed(1)
    return AudioClassifier(bb, LinearHead(bb.hidden_size, 3), layer=layer).eval()


WAV = torch.randn(2, 8000, generator=torch.Generator().manual_seed(3))
LENS = torch.tensor([1.0, 0.6])


@pytest.mark.parametrize("k", [0, 1, 2])
def test_one_hot_weighted_sum_equals_that_layer(backbone, k):
    weighted = _model(backbone, "weighted")
    with torch.no_grad():
        weighted.layer_choice.weights.fill_(-float("inf"))
        weighted.layer_choice.weights[k] = 0.0
    expected = _model(backbone, k).embed(WAV, LENS)
    torch.testing.assert_close(weighted.embed(WAV, LENS), expected, rtol=0, atol=0)
    assert weighted.layer_choice.extra_results()["layer_weights"] == [float(i == k) for i in range(3)]


def test_weighted_sum_is_the_softmax_weighted_sum_of_the_layers(backbone):
    """SUPERB's featurizer: sum_k softmax(w)_k · layer_k, with softmax written out (w = 0, 1, 2)."""
    weighted = _model(backbone, "weighted")
    with torch.no_grad():
        weighted.layer_choice.weights.copy_(torch.tensor([0.0, 1.0, 2.0]))
    e = torch.exp(torch.tensor([0.0, 1.0, 2.0]))
    expected = sum(e[k] / e.sum() * _model(backbone, k).embed(WAV, LENS) for k in range(3))
    torch.testing.assert_close(weighted.embed(WAV, LENS), expected, atol=1e-6, rtol=1e-5)
    assert weighted.layer_choice.extra_results()["layer_weights"] == pytest.approx((e / e.sum()).tolist())


def test_gradients_reach_the_layer_weights(backbone):
    model = _model(backbone, "weighted").train()
    assert model.layer_choice.weights.requires_grad
    model(WAV, LENS).pow(2).sum().backward()
    grad = model.layer_choice.weights.grad
    assert grad is not None and torch.all(grad != 0)
    weights = model.layer_choice.extra_results()["layer_weights"]
    assert len(weights) == backbone.num_layers + 1 and sum(weights) == pytest.approx(1.0)


def test_layer_range_is_the_mean_of_its_layers(backbone):
    both = _model(backbone, [1, 2]).embed(WAV, LENS)
    one, two = _model(backbone, 1).embed(WAV, LENS), _model(backbone, 2).embed(WAV, LENS)
    torch.testing.assert_close(both, (one + two) / 2)
    assert _model(backbone, [1, 2]).layer == [1, 2]


def test_every_choice_reads_the_same_cache(backbone):
    """A probe caches all pooled states once; another layer choice then never runs the backbone."""
    bb = build_backbone("hubert", config="tiny").eval().requires_grad_(False)
    bb.load_state_dict(backbone.state_dict())
    bb.feature_cache = FeatureCache()
    first = _model(bb, 1)
    assert torch.equal(first.embed(WAV, LENS, cache_keys=["a", "b"]), _model(backbone, 1).embed(WAV, LENS))
    calls = []
    bb.register_forward_hook(lambda *args: calls.append(1))
    for choice in (0, 2, [0, 2], "weighted"):
        cached = _model(bb, choice).embed(WAV, LENS, cache_keys=["a", "b"])
        torch.testing.assert_close(cached, _model(backbone, choice).embed(WAV, LENS), rtol=1e-5, atol=1e-6)
    assert calls == [] and len(bb.feature_cache) == 2


def test_build_layer_choice_values_and_errors():
    assert isinstance(build_layer_choice(None, 4), SingleLayer) and build_layer_choice(None, 4).indices == [4]
    assert isinstance(build_layer_choice([0, 4], 4), LayerMean)
    assert isinstance(build_layer_choice("weighted", 4), WeightedLayerSum)
    for bad, match in ((5, "between 0 and 4"), ([3, 1], "outside 0..4 or reversed"), ("mean", "unknown choice"),
                       (True, "valid:"), ([1, 2, 3], "valid:"), ([1.0, 2], "valid:")):
        with pytest.raises(ValueError, match=match):
            build_layer_choice(bad, 4)


def test_results_json_gets_the_learned_weights(backbone):
    from petl_core.results import extra_results

    model = _model(backbone, "weighted")
    assert extra_results(model) == {"layer_weights": [pytest.approx(1 / 3)] * 3}
    assert extra_results(_model(backbone, 1)) == {}
    with pytest.raises(ValueError, match="'layer_weights' of module 'layer_choice' is already taken"):
        extra_results(model, reserved=("layer_weights",))
