"""Training the published network: a one-step run at a tiny size, with the paper's targets."""

from __future__ import annotations

import json

import torch
from transformers import Dinov2Config, Dinov2Model

from temcoco.model.networks import load_trainee
from temcoco.model.paper.training import SEMANTIC_STRIDE, PaperTrainee
from temcoco.model.teachers import DinoTeacher, Teachers
from temcoco.model.train import train
from tests.support.training import tiny_vgg, train_config

torch.set_num_threads(1)


def _tiny_vit_l_width_dino() -> DinoTeacher:
    """A random one-layer DINOv2 as wide as ViT-L/14 (1,024), tokens every 16 input pixels."""
    torch.manual_seed(0)
    cfg = Dinov2Config(hidden_size=1024, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, patch_size=4, image_size=32)
    return DinoTeacher(Dinov2Model(cfg), stride=SEMANTIC_STRIDE)


def test_heads_are_the_papers_targets():
    with torch.inference_mode():
        fused, heads = PaperTrainee()(torch.rand(1, 2, 1, 32, 48), torch.rand(1, 2, 3, 32, 48), aux=True)
    assert fused.shape == (1, 2, 3, 32, 48)
    assert heads["sem_ir"].shape == (1, 2, 1024, 2, 3) and heads["vis_vi"].shape == (1, 2, 256, 8, 12)
    teacher = _tiny_vit_l_width_dino()
    assert teacher(torch.rand(2, 3, 32, 48)).shape == (2, 1024, 2, 3)  # on the semantic features' grid


def test_one_training_step_of_the_published_network(tmp_path):
    teachers = Teachers(vgg=tiny_vgg(), dino=_tiny_vit_l_width_dino())
    cfg = train_config(tmp_path, network="paper", steps=1, batch_size=1, core_frames=3, crop=32, ckpt_every=1)
    final = train(cfg, teachers=teachers)
    row = json.loads((tmp_path / "run" / "losses.jsonl").read_text().splitlines()[-1])
    assert {"distill_vis_ir", "distill_vis_vi", "distill_sem_ir", "distill_sem_vi"} <= set(row)  # both modalities
    trainee = load_trainee(final)
    assert isinstance(trainee, PaperTrainee) and trainee.config.name == "paper"
    assert sum(p.numel() for p in trainee.parameters()) == 19_213_417
