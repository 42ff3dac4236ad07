"""Classification losses for imbalanced labels (cross-entropy with label smoothing, focal loss) and
knowledge distillation from a teacher (Hinton et al. 2015): ``(1 - alpha) * loss(student, y) + alpha * T² *
KL(teacher_T ‖ student_T)``.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import ConfigError
from ..checkpoint import model_from_checkpoint


class FocalLoss(nn.Module):
    """Softmax focal loss (Lin et al. 2017): CE scaled by ``(1 - p_true) ** gamma``."""

    def __init__(self, gamma: float = 2.0, weight: torch.Tensor | None = None, label_smoothing: float = 0.0):
        super().__init__()
        self.gamma, self.label_smoothing = gamma, label_smoothing
        self.register_buffer("weight", weight)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        ce = F.cross_entropy(logits, target, weight=self.weight, reduction="none", label_smoothing=self.label_smoothing)
        p_true = logits.softmax(1).gather(1, target[:, None]).squeeze(1)
        return ((1 - p_true) ** self.gamma * ce).mean()


def build_loss(name: str, weight: torch.Tensor | None = None, label_smoothing: float = 0.0,
               gamma: float = 2.0) -> nn.Module:
    if name == "focal":
        return FocalLoss(gamma, weight, label_smoothing)
    return nn.CrossEntropyLoss(weight=weight, label_smoothing=label_smoothing)


def distillation_loss(teacher: nn.Module, alpha: float = 0.5, temperature: float = 4.0, teacher_size: int | None = None):
    """A ``train_loss`` for :func:`fit` that mixes the data loss with the teacher's softened outputs.

    A teacher trained at another input size (``teacher_size``) sees the student's batch resized to its own.
    """
    if not 0 <= alpha <= 1 or not temperature > 0:
        raise ConfigError(f"distillation needs 0 <= kd_alpha <= 1 and kd_temperature > 0, got {alpha}, {temperature}")
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)

    def loss(model, x, y, criterion):
        student = model(x)
        with torch.no_grad():
            seen = x if not teacher_size or x.shape[-1] == teacher_size else F.interpolate(
                x, size=(teacher_size, teacher_size), mode="bilinear", antialias=True, align_corners=False)
            target = F.softmax(teacher(seen).float() / temperature, dim=1)
        kd = F.kl_div(F.log_softmax(student.float() / temperature, dim=1), target, reduction="batchmean") * temperature ** 2
        return (1 - alpha) * criterion(student, y) + alpha * kd

    return loss


def teacher_loss(teacher: str | Path, data, device: torch.device, alpha: float = 0.5, temperature: float = 4.0):
    """:func:`distillation_loss` from the checkpoint ``teacher``, checked by :func:`check_teacher`."""
    model, ckpt = check_teacher(teacher, data)
    return distillation_loss(model.to(device), alpha, temperature, int(ckpt["preprocessing"]["input_size"]))


def check_teacher(teacher: str | Path, data) -> tuple[nn.Module, dict]:
    """The teacher's model and checkpoint, refused unless it fits ``data`` (a DataBundle): the same classes in the
    same order, and the same normalisation (its input size may differ)."""
    model, ckpt = model_from_checkpoint(teacher)
    if ckpt["classes"] != list(data.classes):
        raise ConfigError(f"--teacher {teacher}: its {len(ckpt['classes'])} classes differ from the data's "
                          f"{len(data.classes)} (a teacher must be trained on the same labels)")
    pre, own = ckpt["preprocessing"], data.cfg.preprocessing
    mismatched = [k for k in ("mean", "std", "resize") if k in pre and pre[k] != own[k]]
    if mismatched:
        raise ConfigError(f"--teacher {teacher}: trained with another {', '.join(mismatched)} than this data "
                          f"({', '.join(f'{k} {pre[k]} vs {own[k]}' for k in mismatched)})")
    return model, ckpt
