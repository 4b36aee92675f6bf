"""Teacher loading from local files: VGG19 checkpoints and a DINOv2 torch.hub directory (tiny, random)."""

import logging

import pytest
import torch
from safetensors.torch import save_file

from temcoco.model.teachers import load_dino, load_vgg

HUBCONF = '''
dependencies = ["torch"]

from torch import nn


class TinyViT(nn.Module):
    """The interface of the DINOv2 hub models: patch_size, embed_dim, forward_features."""

    def __init__(self, embed_dim):
        super().__init__()
        self.patch_size, self.embed_dim = 14, embed_dim
        self.patch_embed = nn.Conv2d(3, embed_dim, 14, 14)
        self.norm = nn.LayerNorm(embed_dim)

    def forward_features(self, x):
        return {"x_norm_patchtokens": self.norm(self.patch_embed(x).flatten(2).transpose(1, 2))}


def dinov2_vits14(pretrained=True, **kwargs):
    if pretrained:
        raise RuntimeError("would download")
    return TinyViT(384)
'''


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    return tmp_path / "torch-home"


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_vgg_loads_the_first_twelve_feature_layers(tmp_path, torch_home, suffix):
    from torchvision.models import vgg19

    torch.manual_seed(3)
    reference = vgg19().features[:12]
    state = {f"features.{k}": v.contiguous() for k, v in reference.state_dict().items()}
    file = tmp_path / f"vgg{suffix}"
    save_file(state, file) if suffix == ".safetensors" else torch.save(state, file)
    teacher = load_vgg(str(file))
    assert torch.equal(teacher.features[0].weight, reference[0].weight)
    assert teacher(torch.rand(1, 1, 32, 48)).shape == (1, 256, 8, 12)


def test_vgg_absent_means_no_teacher(torch_home, caplog):
    with caplog.at_level(logging.WARNING):
        assert load_vgg(None) is None
    assert "no VGG19 weights" in caplog.text


def test_dino_from_a_torch_hub_directory(tmp_path, torch_home, caplog):
    repo = tmp_path / "dinov2"
    repo.mkdir()
    (repo / "hubconf.py").write_text(HUBCONF)
    torch.manual_seed(5)
    weights = {"patch_embed.weight": torch.randn(384, 3, 14, 14), "patch_embed.bias": torch.randn(384),
               "norm.weight": torch.rand(384), "norm.bias": torch.randn(384)}
    save_file(weights, repo / "dinov2_vits14_pretrain.safetensors")
    teacher = load_dino(str(repo), 384)
    assert torch.equal(teacher.model.patch_embed.weight, weights["patch_embed.weight"])
    assert teacher(torch.rand(2, 3, 28, 42)).shape == (2, 384, 2, 3)
    with caplog.at_level(logging.WARNING):
        assert load_dino(str(repo), 1024) is None  # no dinov2_vitl14 weights anywhere
    assert "dinov2_vitl14" in caplog.text
