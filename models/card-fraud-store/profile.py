#!/usr/bin/env python3
"""Write profile.json for models/card-fraud-store: the training profile drift is measured against.

The graph is the zoo's XGBoost model (models/zoo/build.py), so its training data is the zoo's:
the same data set, seed and split are rebuilt here with build.py's own functions. The profile
covers every column of the manifest under the name the service gives it, the two store features
(card_txn_count_24h, merchant_risk_score) like the event's, so drift monitoring sees a change in
what the store serves as it sees one in the events. Format and binning: models/card-fraud/README.md,
"profile.json" (the functions are models/card-fraud/train.py's, imported, not copied).

    .cache/venv-zoo/bin/python models/card-fraud-store/profile.py   # the zoo's venv (models/zoo/build.py)

Deterministic: the same seed gives the same bytes.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
MODELS = HERE.parent


def load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def main() -> int:
    import onnxruntime as ort
    import yaml

    zoo = load("zoo_build", MODELS / "zoo" / "build.py")
    train_py = load("card_fraud_train", MODELS / "card-fraud" / "train.py")
    manifest = yaml.safe_load((HERE / "manifest.yaml").read_text())
    zoo_manifest = json.loads((MODELS / "zoo" / "xgboost" / "manifest.json").read_text())

    # The zoo's data set and split, as build.py main() makes them.
    df = zoo.make_dataset(zoo.DEFAULT_SEED, zoo.DEFAULT_ROWS)
    rng = np.random.default_rng(zoo.DEFAULT_SEED + 1)
    perm = rng.permutation(len(df))
    train = df.iloc[np.sort(perm[zoo.HELD_OUT_ROWS:])].reset_index(drop=True)
    test = df.iloc[np.sort(perm[: zoo.HELD_OUT_ROWS])].reset_index(drop=True)
    train_events = [zoo.to_event(r) for r in train.to_dict("records")]
    test_events = [zoo.to_event(r) for r in test.to_dict("records")]

    # The store model's columns in graph order; a store column's value is the zoo event field the
    # store holds for it (the aggregate the feature pipeline computes).
    from_zoo = {"card_txn_count_24h": "txn_count_24h", "merchant_risk_score": "merchant.risk_score"}
    features = {}
    for col in manifest["inputs"][0]["columns"]:
        name = col["field"]
        values = [zoo.get_path(e, from_zoo.get(name, name)) for e in train_events]
        if col.get("kind") == "categorical":
            cats = list(col["codes"].keys())
            counts = {c: 0 for c in cats}
            for v in values:
                if v in counts:
                    counts[v] += 1
            features[name] = {
                "type": "categorical",
                "count": len(values),
                "null_count": sum(v is None for v in values),
                "categories": {c: {"count": counts[c], "share": counts[c] / len(values)} for c in cats},
            }
            continue
        present = np.array([float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))], dtype=np.float64)
        profile = train_py.histogram_profile(present)
        profile["count"] = len(values)
        profile["null_count"] = len(values) - int(present.size)
        features[name] = profile

    # Scores: the graph on the held-out split, fed as the service feeds it (build.py's model of it).
    sess = ort.InferenceSession(str(HERE / "model.onnx"), providers=["CPUExecutionProvider"])
    graph_inputs = [(i.name, {"tensor(float)": "float", "tensor(int64)": "int64", "tensor(string)": "string"}[i.type]) for i in sess.get_inputs()]
    feeds = zoo.feeds_from_events(test_events, zoo_manifest, graph_inputs)
    outputs = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))
    p1 = np.asarray(outputs["probabilities"], dtype=np.float64)[:, 1]
    score_idx = np.minimum((p1 * 10).astype(np.int64), 9)
    score_counts = np.bincount(score_idx, minlength=10)

    profile = {
        "model": manifest["name"],
        "model_version": str(manifest["version"]),
        "rows": len(train_events),
        "source": "training split of the zoo's synthetic data set (models/zoo/build.py, seed "
                  f"{zoo.DEFAULT_SEED}); store features as the store holds them for each event's card and merchant",
        "binning": {
            "numeric": "as models/card-fraud/profile.json: bin_edges are the deduplicated 10%..90% quantiles (method=lower); "
                       "nulls (distance_km) are counted in null_count, not binned.",
            "categorical": "share of training rows per category the manifest codes.",
            "prediction": "p1 = probabilities[:, 1] of the held-out split (5,000 events); 10 equal-width bins and the "
                          "quantile bins of models/card-fraud/profile.json.",
        },
        "features": features,
        "prediction": {
            "output": "probabilities",
            "column": 1,
            "count": int(p1.size),
            "mean": float(p1.mean()),
            "bin_edges": [round(i / 10, 1) for i in range(11)],
            "bin_counts": [int(c) for c in score_counts],
            "bin_shares": [float(c) / p1.size for c in score_counts],
            "baseline_split": "test",
            "baseline_count": int(p1.size),
            **train_py.score_quantile_profile(p1),
        },
        "target": {"fraud_rate": float(train["is_fraud"].mean())},
    }
    (HERE / "profile.json").write_text(json.dumps(profile, indent=1) + "\n")
    print(f"wrote {HERE / 'profile.json'}: {len(features)} features over {len(train_events)} training events, "
          f"scores of {p1.size} held-out events (mean {p1.mean():.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
