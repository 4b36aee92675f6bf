"""The numeric fingerprint of the published network (``../shared/reference/temcoco-official``).

Its ``spec.json`` lists every state_dict key with shape and a deterministic fill; this module
rebuilds those weights, so tests and benchmarks can run the published network on CPU without
the official checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

import temcoco

REFERENCE_DIR = Path(temcoco.__file__).resolve().parents[2] / "shared" / "reference" / "temcoco-official"


def reference_state_dict(spec_path: Path = REFERENCE_DIR / "spec.json") -> dict[str, torch.Tensor]:
    """The parameters the spec describes (mean + std * randn from each key's seed, float32, CPU).

    Buffers (the attention blocks' constant index tables) are not in the spec's fills: take
    them from the network.
    """
    spec = json.loads(Path(spec_path).read_text())["keys"]
    state = {}
    for key, entry in spec.items():
        if "fill" not in entry:
            continue
        fill = entry["fill"]
        g = torch.Generator().manual_seed(fill["seed"])
        state[key] = fill["mean"] + fill["std"] * torch.randn(entry["shape"], generator=g, dtype=torch.float32)
    return state
