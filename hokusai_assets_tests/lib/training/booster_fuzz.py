"""Load and predict with mutated boosted model files, in a process of its own.

``python -m hokusai_assets_tests.lib.training.booster_fuzz MODEL_FILE TRIALS SEED`` replaces
one number in the booster text per trial (an index, a count, a size: the kind of edit that
makes XGBoost's or LightGBM's compiled parser read out of bounds), keeps LightGBM's
``tree_sizes`` consistent when it can (so the edit reaches the trees), then loads and
predicts. A trial ends ``loaded`` or ``refused <code>``; any other exception ends the run
with exit 3. A segfault, an abort or a hang ends the process itself, which is why this
runs apart from the test process. Each trial is printed before it runs, so the last line
names the edit that killed the process.
"""

from __future__ import annotations

import json
import random
import re
import sys

import numpy as np
from safetensors.numpy import save

from hokusai_assets.lib.errors import ModelError
from hokusai_assets.lib.training.boosting_files import BOOSTER_TENSOR
from hokusai_assets.lib.training.model import METADATA_KEY, model_from_bytes, read_model_file

NUMBER = re.compile(rb"-?\d+")
REPLACEMENTS = (b"-1", b"-2", b"0", b"1", b"2", b"3", b"7", b"9", b"64", b"100000", b"2147483647", b"-2147483648")


def resize_lightgbm_trees(text: bytes) -> bytes:
    """The text with tree_sizes recomputed from its trees (what a careful forger would do)."""
    head, sep, rest = text.partition(b"\n\n")
    trees, marker, tail = rest.partition(b"end of trees")
    starts = [m.start() for m in re.finditer(rb"^Tree=", trees, re.MULTILINE)]
    if not marker or not starts:
        return text
    bounds = [*starts, len(trees)]
    sizes = b" ".join(str(bounds[i + 1] - bounds[i]).encode() for i in range(len(starts)))
    head = re.sub(rb"(?m)^tree_sizes=.*$", b"tree_sizes=" + sizes, head)
    return head + sep + rest


def mutate(text: bytes, rng: random.Random, framework: str) -> tuple[bytes, str]:
    matches = list(NUMBER.finditer(text))
    match = rng.choice(matches)
    replacement = rng.choice(REPLACEMENTS)
    mutated = text[: match.start()] + replacement + text[match.end() :]
    if framework == "lightgbm" and rng.random() < 0.8:
        mutated = resize_lightgbm_trees(mutated)
    context = text[max(0, match.start() - 30) : match.start()].decode("ascii", "replace").replace("\n", "|")
    return mutated, f"...{context}[{match.group().decode()} -> {replacement.decode()}]"


def main(path: str, trials: int, seed: int) -> int:
    data = open(path, "rb").read()
    description, tensors = read_model_file(data)
    text = tensors[BOOSTER_TENSOR].tobytes()
    n_features = len(description["feature_names"])
    inputs = np.random.default_rng(0).normal(size=(64, n_features))
    inputs[::5, 0] = np.nan
    rng = random.Random(seed)
    outcomes = {"loaded": 0, "refused": 0}
    for trial in range(trials):
        mutated, edit = mutate(text, rng, description["framework"])
        print(f"trial {trial}: {edit}", flush=True)
        forged = save(
            {BOOSTER_TENSOR: np.frombuffer(mutated, dtype=np.uint8).copy()},
            metadata={METADATA_KEY: json.dumps(description)},
        )
        try:
            model = model_from_bytes(forged)
            model.estimator.predict(inputs)
        except ModelError as exc:
            outcomes["refused"] += 1
            print(f"  refused {exc.code}", flush=True)
            continue
        except Exception as exc:  # what the test is looking for: not a clean refusal
            print(f"  UNEXPECTED {type(exc).__name__}: {exc}", flush=True)
            return 3
        outcomes["loaded"] += 1
        print("  loaded", flush=True)
    print(json.dumps(outcomes), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
