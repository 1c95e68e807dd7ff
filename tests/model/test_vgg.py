import torch

from vggexplorer.model.vgg import VGG, VGG_CFG, conv_block_names, count_macs, count_params, layer_costs


def test_output_shape_and_names():
    m = VGG().eval()
    with torch.no_grad():
        assert m(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
        # fully convolutional with global pooling: other sizes work too
        assert m(torch.zeros(1, 3, 16, 16)).shape == (1, 10)
    names = dict(m.named_modules())
    for i in range(8):
        assert f"backbone.conv{i}" in names and f"backbone.bn{i}" in names and f"backbone.relu{i}" in names
    for i in range(4):
        assert f"backbone.pool{i}" in names
    assert "classifier" in names
    assert conv_block_names() == [f"conv{i}" for i in range(8)]


def test_parameter_count_matches_lab():
    assert count_params(VGG()) == 9_228_362


def test_macs_per_layer_and_total():
    costs = {c.name: c for c in layer_costs(VGG())}
    # conv0: 32*32 outputs x 64 channels x (3 in x 9) = 1,769,472
    assert costs["backbone.conv0"].macs == 32 * 32 * 64 * 3 * 9
    # conv6 and conv7 run at 4x4 (after three pools); pool3 then makes 2x2 before the global pool
    assert costs["backbone.conv7"].macs == 4 * 4 * 512 * 512 * 9
    assert costs["backbone.conv7"].output_shape == (512, 4, 4)
    assert costs["classifier"].macs == 512 * 10
    total = count_macs(VGG())
    assert total == sum(c.macs for c in costs.values()) == 605_754_368  # "about 606M"


def test_the_model_is_built_from_the_lab_cfg():
    # the lab's layers, read from the built model (not the constant compared with its own literal)
    m = VGG()
    layers = []
    for mod in m.backbone.children():
        if isinstance(mod, torch.nn.Conv2d):
            assert mod.kernel_size == (3, 3) and mod.padding == (1, 1) and mod.bias is None
            layers.append(mod.out_channels)
        elif isinstance(mod, torch.nn.MaxPool2d):
            layers.append("M")
    assert layers == [64, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]
    assert VGG_CFG == layers and m.classifier.in_features == 512 and m.classifier.out_features == 10


def test_the_model_names_its_blocks_and_parameters():
    from vggexplorer.model.vgg import block_widths, blocks, parameter_name, short_name

    model = VGG()
    found = blocks(model)
    assert list(found) == [f"conv{i}" for i in range(8)]
    # written out from the lab's layout: conv, bn, relu per block, a pool after blocks 1, 3, 5 and 7
    assert [b.relu_index for b in found.values()] == [2, 5, 9, 12, 16, 19, 23, 26]
    assert found["conv3"].conv is model.backbone.conv3 and found["conv3"].bn is model.backbone.bn3
    assert found["conv3"].relu is model.backbone.relu3
    assert block_widths() == {"conv0": 64, "conv1": 128, "conv2": 256, "conv3": 256,
                              "conv4": 512, "conv5": 512, "conv6": 512, "conv7": 512}
    assert short_name("backbone.conv3.weight") == "conv3"
    assert short_name("backbone.bn3.bias") == "bn3.bias"
    assert short_name("classifier.weight") == "classifier"
    assert parameter_name("conv3") == "backbone.conv3.weight" and parameter_name("classifier") == "classifier.weight"


def test_weight_sparsity_by_hand():
    from torch import nn

    from vggexplorer.model.vgg import layer_sparsity, sparsity_of, zero_fraction

    a = torch.tensor([[0.0, 1.0], [0.0, 0.0]])  # 3 of 4 zero
    b = torch.tensor([0.0, 2.0, 3.0, 4.0, 5.0, 6.0])  # 1 of 6 zero
    assert sparsity_of(a) == 0.75
    assert sparsity_of({"a": a, "b": b}) == 0.4  # (3 + 1) / (4 + 6): pooled over entries, not a mean of fractions
    assert sparsity_of([a, b]) == sparsity_of(w for w in (a, b)) == 0.4
    assert sparsity_of({}) == 0.0
    m = nn.Sequential(nn.Conv2d(1, 2, 1, bias=True), nn.Flatten(), nn.Linear(2, 2))
    with torch.no_grad():
        m[0].weight.copy_(torch.tensor([0.0, 1.0]).view(2, 1, 1, 1))  # 1 of 2 zero
        m[0].bias.zero_()  # biases never count
        m[2].weight.copy_(torch.tensor([[0.0, 0.0], [0.0, 7.0]]))  # 3 of 4 zero
    assert layer_sparsity(m) == {"0.weight": 0.5, "2.weight": 0.75}
    assert zero_fraction(m) == 4 / 6
