import torch

from s2e_lib.nn.vgg import VGGFeatures, layer_index, load_vgg_features, make_features


def test_vgg_keys_match_torchvision_layout():
    keys16 = [k for k in make_features("vgg16").state_dict() if k.endswith("weight")]
    assert keys16[0] == "0.weight" and keys16[-1] == "28.weight" and len(keys16) == 13
    keys19 = [k for k in make_features("vgg19").state_dict() if k.endswith("weight")]
    assert keys19[-1] == "34.weight" and len(keys19) == 16


def test_layer_names():
    assert layer_index("vgg16", "relu1_1") == 1
    assert layer_index("vgg16", "pool2") == 9
    assert layer_index("vgg16", "relu4_2") == 20
    assert layer_index("vgg19", "relu5_1") == 29


def test_features_and_loading_roundtrip(tmp_path):
    torch.manual_seed(0)
    source = make_features("vgg16")
    full = {f"features.{k}": v for k, v in source.state_dict().items()}
    full["classifier.0.weight"] = torch.zeros(2, 2)
    path = tmp_path / "vgg16.pth"
    torch.save(full, path)
    net = load_vgg_features(VGGFeatures("vgg16", ("relu1_2", "pool2")), path)
    outs = net(torch.rand(1, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(1, 64, 32, 32), (1, 128, 8, 8)]
    assert torch.equal(net.features[0].weight, source[0].weight)
