"""A TopK SAE on MiniLM's middle layer over the real corpus, scored by its downstream effect.

Captures ``blocks.3.hook_resid_post`` (d_model 384; MiniLM has 6 layers) of
``minilm`` over a random 800 of the shipped corpus's 128-token sequences, trains a
TopK SAE (1536 latents, k = 32) on 90 % of them and reports on the other 10 %: L0,
FVU, dead fraction, and -- MiniLM being an encoder with no next-token loss -- the
effect of splicing the SAE in on the last layer's hidden states (cosine with the
clean ones, relative MSE, and the score 1 - MSE_sae / MSE_zero-ablation).
Writes a ``capture`` run and an ``sae`` run (with the dashboard's features).

    python experiments/sae_minilm.py                     # ~8 min on 2 CPU cores
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from interp.sae.cli import experiment  # noqa: E402

if __name__ == "__main__":
    experiment(sys.argv[1:], spec="minilm", hook="blocks.3.hook_resid_post", description=__doc__,
               d_sae=1536, k=32, max_seqs=800, epochs=3, lr=1e-3)
