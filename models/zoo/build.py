#!/usr/bin/env python3
"""Build the stream-scorer "model zoo": one synthetic data set, ten models, ten ONNX exports.

Every model is trained on the same synthetic data set of nested Avro events
(schema.avsc, record io.streamscorer.zoo.ZooEvent) and exported to ONNX the way the
library's own documentation does it: skl2onnx for scikit-learn, onnxmltools for
LightGBM and XGBoost, CatBoost's own save_model(format="onnx"), and one graph written
by hand with onnx.helper. Converter defaults are kept (ZipMap on, default output
names), so the service has to cope with what real exports look like.

Each model gets its own folder next to this file:

  <name>/model.onnx       the exported model
  <name>/manifest.yaml    (or manifest.json) how Avro fields feed the graph inputs
  <name>/schema.avsc      the event schema (identical in every folder)
  <name>/reference.json   200 held-out events with onnxruntime and framework outputs

The reference outputs are computed by Python onnxruntime (pinned to the version of
onnxruntime-node the service uses) on the tensors built *from the events through the
manifest*, i.e. exactly what the service will feed. The framework is fed the same
values. A table of max |framework - onnxruntime| is printed at the end.

Everything is derived from --seed (default 20261127); two runs give identical bytes.

    python3 -m venv .cache/venv-zoo
    .cache/venv-zoo/bin/pip install -r models/zoo/requirements.txt
    .cache/venv-zoo/bin/python models/zoo/build.py          # --seed 20261127
"""

from __future__ import annotations

import os

# single-threaded everywhere (BLAS, OpenMP in LightGBM / XGBoost / HGB): reproducible bytes
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import copy
import datetime as dt
import json
import math
import platform
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent

DEFAULT_SEED = 20261127
DEFAULT_ROWS = 25_000
HELD_OUT_ROWS = 5_000  # the rest (20,000) is the training split
REFERENCE_EVENTS = 200
REFERENCE_NULL_DISTANCE = 10
REFERENCE_FRAUDS = 25
MODEL_VERSION = "1.0.0"
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}
# onnxmltools takes one int and refuses anything above onnxconverter-common's DEFAULT_OPSET_NUMBER (15 in 1.16.0):
# "target_opset 17 is higher than ... the converter support (15)"
ONNXMLTOOLS_OPSET = 15
TARGET_FRAUD_RATE = 0.07
NULL_DISTANCE_RATE = 0.05
DISTANCE_DEFAULT = -1.0  # sklearn-regressor: value fed for a null distance_km (manifest `missing: default`)

# max |framework - onnxruntime| accepted; above it the build fails and writes nothing
TOLERANCE = 1e-4
TOLERANCE_BY_MODEL = {
    # onnxmltools' LightGBM converter casts thresholds / leaf values to float32; known to
    # differ from LightGBM by up to ~5e-3 (reported, not hidden)
    "lightgbm": 1e-2,
    # regression value (expected_loss, about 0..200): float32 relative error
    "sklearn-regressor": 1e-3,
}

# --------------------------------------------------------------------------------------
# The Avro schema (written into every model folder)
# --------------------------------------------------------------------------------------

SCHEMA = {
    "type": "record",
    "name": "ZooEvent",
    "namespace": "io.streamscorer.zoo",
    "doc": "Synthetic card payment event of the stream-scorer model zoo (models/zoo/build.py).",
    "fields": [
        {"name": "event_id", "type": "string", "doc": "UUID of the event."},
        {"name": "event_time", "type": {"type": "long", "logicalType": "timestamp-millis"},
         "doc": "Epoch milliseconds UTC."},
        {"name": "amount", "type": "double"},
        {"name": "account_age_days", "type": "int"},
        {"name": "txn_count_24h", "type": "long"},
        {"name": "is_international", "type": "boolean",
         "doc": "Merchant country differs from the cardholder's home country."},
        {"name": "channel", "type": "string", "doc": "atm, contactless, ecommerce, moto, pos."},
        {"name": "merchant", "type": {
            "type": "record",
            "name": "Merchant",
            "fields": [
                {"name": "category", "type": "string"},
                {"name": "country", "type": "string", "doc": "ISO 3166-1 alpha-2."},
                {"name": "risk_score", "type": "float", "doc": "0..1."},
            ],
        }},
        {"name": "distance_km", "type": ["null", "double"], "default": None,
         "doc": "Distance from the cardholder's home; null when unknown."},
    ],
}

# --------------------------------------------------------------------------------------
# The world the events come from
# --------------------------------------------------------------------------------------

CHANNELS = {"pos": (0.30, 0.0), "contactless": (0.28, -0.6), "ecommerce": (0.31, 1.0),
            "moto": (0.04, 1.3), "atm": (0.07, 0.4)}  # share, fraud log-odds
# category -> (share among non-ATM payments, median amount, fraud log-odds, risk-score bump)
CATEGORIES = {
    "grocery":       (0.22,  38.0, -0.6, -0.4),
    "restaurants":   (0.16,  29.0, -0.3, -0.2),
    "fuel":          (0.09,  58.0, -0.2, -0.1),
    "pharmacy":      (0.07,  21.0, -0.5, -0.3),
    "fashion":       (0.12,  72.0,  0.1,  0.0),
    "electronics":   (0.09, 190.0,  0.8,  0.4),
    "travel":        (0.08, 310.0,  0.4,  0.2),
    "digital_goods": (0.12,  14.0,  0.9,  0.6),
    "jewelry":       (0.05, 420.0,  1.1,  0.6),
    "cash_withdrawal": (0.0, 110.0, 0.3,  0.0),  # only (and always) for channel atm
}
# country -> (lat, lon, share of cardholders living there, share as a foreign merchant country,
#             fraud log-odds, risk-score bump)
COUNTRIES = {
    "DE": (51.2,  10.4, 0.36, 0.08, 0.0, 0.0),
    "FR": (46.6,   2.4, 0.24, 0.08, 0.0, 0.0),
    "NL": (52.2,   5.3, 0.14, 0.06, 0.0, 0.0),
    "ES": (40.4,  -3.7, 0.13, 0.10, 0.1, 0.0),
    "IT": (42.8,  12.5, 0.13, 0.09, 0.1, 0.0),
    "GB": (53.0,  -1.5, 0.00, 0.18, 0.1, 0.0),
    "US": (39.8, -98.6, 0.00, 0.25, 0.4, 0.2),
    "BR": (-14.2, -51.9, 0.00, 0.07, 1.1, 0.6),
    "NG": (9.1,    8.7, 0.00, 0.09, 1.6, 0.9),
}

YEAR_START_MS = int(dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc).timestamp() * 1000)
DATA_DAYS = 300
DAY_MS = 86_400_000
INT32_MAX = 2**31 - 1

# flat column names (DataFrame columns, graph input names of per-column models) -> Avro path
FIELD_OF = {
    "amount": "amount",
    "account_age_days": "account_age_days",
    "txn_count_24h": "txn_count_24h",
    "is_international": "is_international",
    "channel": "channel",
    "merchant_category": "merchant.category",
    "merchant_country": "merchant.country",
    "merchant_risk_score": "merchant.risk_score",
    "distance_km": "distance_km",
}
STRING_COLS = ["channel", "merchant_category", "merchant_country"]
INT_COLS = ["account_age_days", "txn_count_24h", "is_international"]  # Int64TensorType (boolean as 0/1)
FLOAT_COLS = ["amount", "merchant_risk_score"]
NUMERIC_BASE = ["amount", "account_age_days", "txn_count_24h", "is_international", "merchant_risk_score"]


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def haversine_km(lat1, lon1, lat2, lon2):
    lat1, lon1, lat2, lon2 = map(np.radians, (lat1, lon1, lat2, lon2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 6371.0 * 2 * np.arcsin(np.sqrt(a))


def make_dataset(seed: int, n: int) -> pd.DataFrame:
    """Flat frame: the Avro fields (merchant.* flattened to merchant_*) plus three targets."""
    rng = np.random.default_rng(seed)
    countries = list(COUNTRIES)
    homes = [c for c in countries if COUNTRIES[c][2] > 0]
    home_p = np.array([COUNTRIES[c][2] for c in homes])
    foreign_w = np.array([COUNTRIES[c][3] for c in countries])

    home = rng.choice(homes, size=n, p=home_p / home_p.sum())
    chans = list(CHANNELS)
    channel = rng.choice(chans, size=n, p=[CHANNELS[c][0] for c in chans])
    cats = [c for c in CATEGORIES if CATEGORIES[c][0] > 0]
    cat_p = np.array([CATEGORIES[c][0] for c in cats])
    category = np.where(channel == "atm", "cash_withdrawal", rng.choice(cats, size=n, p=cat_p / cat_p.sum()))

    online = np.isin(channel, ["ecommerce", "moto"])
    domestic = rng.random(n) < np.where(online, 0.62, 0.92)
    foreign = rng.choice(countries, size=n, p=foreign_w / foreign_w.sum())
    # a "foreign" draw can hit the home country: that is then a domestic payment
    country = np.where(domestic, home, foreign)
    is_international = country != home

    median = np.array([CATEGORIES[c][1] for c in category])
    amount = median * rng.lognormal(0.0, 0.8, n)
    amount = np.where(category == "cash_withdrawal", np.maximum(20.0, np.round(amount / 10.0) * 10.0), amount)
    amount = np.round(np.clip(amount, 0.5, 20_000.0), 2)

    new_account = rng.random(n) < 0.08
    account_age_days = np.where(new_account, rng.integers(0, 60, n),
                                np.clip(rng.lognormal(math.log(900.0), 0.9, n), 60, 15_000)).astype(np.int64)

    rate = rng.lognormal(math.log(1.4), 0.6, n)
    burst = np.where(rng.random(n) < 0.05, rng.uniform(3.0, 8.0, n), 1.0)
    txn_count_24h = np.minimum(rng.poisson(rate * burst), 60).astype(np.int64)

    risk_logit = (-2.2 + np.array([CATEGORIES[c][3] for c in category])
                  + np.array([COUNTRIES[c][5] for c in country]) + 0.4 * online + rng.normal(0.0, 0.6, n))
    # Avro float: keep float32-exact values (4 decimals, then through float32)
    risk_score = np.round(sigmoid(risk_logit), 4).astype(np.float32).astype(np.float64)

    lat = np.array([COUNTRIES[c][0] for c in country]); lon = np.array([COUNTRIES[c][1] for c in country])
    hlat = np.array([COUNTRIES[c][0] for c in home]); hlon = np.array([COUNTRIES[c][1] for c in home])
    local_km = rng.lognormal(math.log(8.0), 1.1, n)
    abroad_km = haversine_km(hlat, hlon, lat, lon) * rng.uniform(0.75, 1.25, n) + rng.exponential(40.0, n)
    distance = np.round(np.where(is_international, abroad_km, np.minimum(local_km, 900.0)), 1)

    day = rng.integers(0, DATA_DAYS, n)
    event_time = YEAR_START_MS + day * DAY_MS + rng.integers(0, DAY_MS, n)

    # ---- targets --------------------------------------------------------------------
    z = (0.9 * np.clip(np.log(amount / median), -2.0, 4.0)
         + 0.45 * np.log1p(distance / 50.0)
         + np.array([CHANNELS[c][1] for c in channel])
         + np.array([COUNTRIES[c][4] for c in country])
         + np.array([CATEGORIES[c][2] for c in category])
         + np.where(account_age_days < 14, 1.6, np.where(account_age_days < 60, 0.8, 0.0))
         + 0.2 * np.minimum(txn_count_24h, 15)
         + 3.0 * risk_score
         + 0.5 * (online & is_international))
    lo, hi = -30.0, 10.0  # intercept so that the expected fraud rate is TARGET_FRAUD_RATE
    for _ in range(80):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if sigmoid(z + mid).mean() < TARGET_FRAUD_RATE else (lo, mid)
    p_fraud = sigmoid(z + (lo + hi) / 2)
    is_fraud = rng.random(n) < p_fraud

    latent = z + rng.normal(0.0, 0.8, n)
    q60, q88 = np.quantile(latent, [0.60, 0.88])
    risk_tier = np.where(latent < q60, "low", np.where(latent < q88, "medium", "high"))

    expected_loss = np.round(amount * p_fraud * rng.lognormal(0.0, 0.25, n) + 0.01 * amount, 4)

    # distance is unknown for ~5 % of the events (after the targets were drawn from it)
    distance = np.where(rng.random(n) < NULL_DISTANCE_RATE, np.nan, distance)
    event_id = [str(uuid.UUID(bytes=rng.bytes(16), version=4)) for _ in range(n)]

    df = pd.DataFrame({
        "event_id": pd.Series(event_id, dtype=object),
        "event_time": event_time.astype(np.int64),
        "amount": amount.astype(np.float64),
        "account_age_days": account_age_days,
        "txn_count_24h": txn_count_24h,
        "is_international": is_international.astype(bool),
        "channel": pd.Series(channel, dtype=object),
        "merchant_category": pd.Series(category, dtype=object),
        "merchant_country": pd.Series(country, dtype=object),
        "merchant_risk_score": risk_score,
        "distance_km": distance.astype(np.float64),
        "is_fraud": is_fraud.astype(np.int64),
        "risk_tier": pd.Series(risk_tier, dtype=object),
        "expected_loss": expected_loss.astype(np.float64),
    })
    return df


def to_event(row: dict) -> dict:
    """One flat row as the nested event in avsc's JavaScript form (union unwrapped, epoch-ms long)."""
    d = row["distance_km"]
    return {
        "event_id": str(row["event_id"]),
        "event_time": int(row["event_time"]),
        "amount": float(row["amount"]),
        "account_age_days": int(row["account_age_days"]),
        "txn_count_24h": int(row["txn_count_24h"]),
        "is_international": bool(row["is_international"]),
        "channel": str(row["channel"]),
        "merchant": {
            "category": str(row["merchant_category"]),
            "country": str(row["merchant_country"]),
            "risk_score": float(row["merchant_risk_score"]),
        },
        "distance_km": None if (d is None or math.isnan(d)) else float(d),
    }


def check_events(events: list[dict]) -> None:
    import fastavro
    from fastavro.validation import validate_many

    parsed = fastavro.parse_schema(copy.deepcopy(SCHEMA))
    validate_many(events, parsed, raise_errors=True)
    for e in events:
        if not isinstance(e["event_time"], int):
            raise SystemExit(f"event_time must be an int: {e['event_time']!r}")
        if not 0 <= e["account_age_days"] <= INT32_MAX:
            raise SystemExit(f"account_age_days out of int range: {e['account_age_days']}")
        rs = e["merchant"]["risk_score"]
        if not (0.0 <= rs <= 1.0 and float(np.float32(rs)) == rs):
            raise SystemExit(f"merchant.risk_score must be a float32-exact value in 0..1: {rs!r}")


# --------------------------------------------------------------------------------------
# What the service does: event + manifest -> input tensors (a Python model of it)
# --------------------------------------------------------------------------------------

def get_path(event: dict, path: str):
    v = event
    for part in path.split("."):
        v = v[part]
    return v


def column_value(event: dict, col: dict):
    """One cell as the service computes it from the manifest's column spec."""
    v = get_path(event, col["field"])
    if v is None:
        missing = col.get("missing", "dead-letter")
        if missing == "nan":
            return np.nan
        if missing == "default":
            return col["default"]
        raise ValueError(f"{col['field']} is null and missing={missing}: dead letter")
    if col.get("kind") == "categorical":
        if v in col["codes"]:
            return col["codes"][v]
        if col.get("unknown", "dead-letter") == "score-and-flag":
            code = col["unknown_code"]
            return np.nan if code == "nan" else code
        raise ValueError(f"{col['field']}={v!r} unknown: dead letter")
    if isinstance(v, bool):
        return 1 if v else 0
    return v


def feeds_from_events(events: list[dict], manifest: dict, graph_inputs: list[tuple[str, str]]) -> dict:
    """graph_inputs: (name, elem type 'float'|'int64'|'string'), in graph order."""
    specs = {i["name"]: i for i in manifest.get("inputs", [])}
    np_types = {"float": np.float32, "int64": np.int64, "string": object}
    feeds = {}
    for name, elem in graph_inputs:
        spec = specs.get(name, {"name": name, "field": name})
        cols = spec["columns"] if "columns" in spec else [spec]
        dtype = np_types[elem]
        rows = [[column_value(e, c) for c in cols] for e in events]
        if dtype is object:
            feeds[name] = np.array(rows, dtype=object)
        else:
            # a double field goes to float32 by rounding once (as Float32Array does)
            feeds[name] = np.array(rows, dtype=np.float64).astype(dtype) if dtype is np.float32 \
                else np.array(rows, dtype=np.int64)
    return feeds


# --------------------------------------------------------------------------------------
# Feature matrices built straight from the flat frame (training; must equal the above)
# --------------------------------------------------------------------------------------

def codes_of(values) -> dict:
    return {v: i for i, v in enumerate(sorted(set(values)))}


def flat_column(df: pd.DataFrame, name: str, dtype, codes=None, missing=None):
    s = df[name]
    if codes is not None:
        return s.map(codes).to_numpy(dtype=np.float64).astype(dtype)
    a = s.to_numpy(dtype=np.float64) if dtype is not object else s.to_numpy(dtype=object)
    if missing is not None and dtype is not object:
        a = np.where(np.isnan(a), missing, a)
    if dtype is np.int64:
        return a.astype(np.int64)
    return a.astype(dtype)


def matrix(df: pd.DataFrame, columns: list[tuple[str, dict]]) -> np.ndarray:
    """[N, F] float32 matrix: columns = (flat name, {codes|missing}) in order."""
    return np.column_stack([flat_column(df, n, np.float32, o.get("codes"), o.get("missing_value"))
                            for n, o in columns]).astype(np.float32)


def per_column_feeds(df: pd.DataFrame, names: list[str]) -> dict:
    feeds = {}
    for n in names:
        if n in STRING_COLS:
            feeds[n] = df[n].to_numpy(dtype=object).reshape(-1, 1)
        elif n in INT_COLS:
            feeds[n] = df[n].to_numpy().astype(np.int64).reshape(-1, 1)
        else:
            feeds[n] = df[n].to_numpy(dtype=np.float64).astype(np.float32).reshape(-1, 1)
    return feeds


def frame_from_feeds(feeds: dict, names: list[str]) -> pd.DataFrame:
    """What a scikit-learn pipeline gets: the same values the graph gets (float32 -> float64)."""
    out = {}
    for n in names:
        a = feeds[n][:, 0]
        out[n] = a.astype(np.float64) if a.dtype == np.float32 else a
    return pd.DataFrame(out)


def per_column_types(names: list[str]):
    from skl2onnx.common.data_types import FloatTensorType, Int64TensorType, StringTensorType
    return [(n, StringTensorType([None, 1]) if n in STRING_COLS else
             Int64TensorType([None, 1]) if n in INT_COLS else FloatTensorType([None, 1])) for n in names]


# --------------------------------------------------------------------------------------
# ONNX helpers
# --------------------------------------------------------------------------------------

def describe_type(t) -> str:
    import onnx
    which = t.WhichOneof("value")
    if which == "tensor_type":
        elem = onnx.helper.tensor_dtype_to_np_dtype(t.tensor_type.elem_type)
        elem = "string" if elem == object else str(np.dtype(elem))
        if not t.tensor_type.HasField("shape"):
            return f"tensor({elem})"
        dims = [d.dim_param if d.HasField("dim_param") else (str(d.dim_value) if d.HasField("dim_value") else "?")
                for d in t.tensor_type.shape.dim]
        return f"tensor({elem})[{', '.join(dims)}]"
    if which == "sequence_type":
        return f"seq({describe_type(t.sequence_type.elem_type)})"
    if which == "map_type":
        key = onnx.helper.tensor_dtype_to_np_dtype(t.map_type.key_type)
        key = "string" if key == object else str(np.dtype(key))
        return f"map({key}, {describe_type(t.map_type.value_type)})"
    return which or "?"


def graph_inputs_of(model) -> list[tuple[str, str]]:
    import onnx
    names = {onnx.TensorProto.FLOAT: "float", onnx.TensorProto.INT64: "int64", onnx.TensorProto.STRING: "string"}
    init = {i.name for i in model.graph.initializer}
    return [(i.name, names[i.type.tensor_type.elem_type]) for i in model.graph.input if i.name not in init]


def normalize(model, metadata: dict | None, drop_metadata: tuple[str, ...] = ()) -> None:
    """Stable bytes: sort opset_import (skl2onnx fills it from a Python set); add / drop metadata_props."""
    # skl2onnx may also list the default domain twice (seen on RandomForestRegressor): keep one entry per domain
    best: dict[str, int] = {}
    for o in model.opset_import:
        domain = "" if o.domain == "ai.onnx" else o.domain
        best[domain] = max(best.get(domain, 0), o.version)
    del model.opset_import[:]
    for domain, version in sorted(best.items()):
        model.opset_import.add(domain=domain, version=version)
    if metadata or drop_metadata:
        from onnx import helper
        props = {p.key: p.value for p in model.metadata_props if p.key not in drop_metadata}
        props.update(metadata or {})
        del model.metadata_props[:]
        helper.set_model_props(model, props)


def zipmap_output(model) -> str | None:
    for o in model.graph.output:
        if o.type.WhichOneof("value") == "sequence_type":
            return o.name
    return None


# --------------------------------------------------------------------------------------
# The models
# --------------------------------------------------------------------------------------

class Built:
    """One trained + exported model and what is needed to score and describe it."""

    def __init__(self, name, kind, onnx_model, manifest, manifest_format, classes, positive_class_index,
                 framework, converter, export_kind, predict, description, metadata):
        self.name = name
        self.kind = kind
        self.onnx_model = onnx_model
        self.manifest = manifest
        self.manifest_format = manifest_format
        self.classes = classes  # strings, in ONNX probability column order
        self.positive_class_index = positive_class_index
        self.framework = framework
        self.converter = converter
        self.export_kind = export_kind
        self.predict = predict  # feeds -> (probabilities [N,C] float64 | values [N], labels | None)
        self.description = description
        self.metadata = metadata


def nf_columns_manifest(columns: list[tuple[str, dict]]) -> list[dict]:
    out = []
    for name, opts in columns:
        col = {"field": FIELD_OF[name]}
        if "codes" in opts:
            col["kind"] = "categorical"
            col["codes"] = dict(opts["codes"])
            if "unknown" in opts:
                col["unknown"] = opts["unknown"]
            if "unknown_code" in opts:
                col["unknown_code"] = opts["unknown_code"]
        if "missing" in opts:
            col["missing"] = opts["missing"]
            if opts["missing"] == "default":
                col["default"] = opts["missing_value"]
        out.append(col)
    return out


def build_all(train: pd.DataFrame, seed: int, versions: dict) -> list[Built]:
    import lightgbm
    import onnx
    import onnxmltools
    import skl2onnx
    import sklearn
    import xgboost
    import catboost
    from onnx import TensorProto, helper
    from onnxmltools.convert.common.data_types import FloatTensorType as MLFloatTensorType
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import (GradientBoostingClassifier, HistGradientBoostingClassifier,
                                  RandomForestClassifier, RandomForestRegressor)
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    rs = seed % 2**32
    sk = f"scikit-learn {sklearn.__version__}"
    s2o = f"skl2onnx {skl2onnx.__version__}"
    y_fraud = train["is_fraud"].to_numpy()
    meta = lambda name: {"model_name": name, "model_version": MODEL_VERSION}  # noqa: E731
    built: list[Built] = []

    # ---- 1. sklearn-percolumn ----------------------------------------------------------
    name = "sklearn-percolumn"
    cols = ["amount", "account_age_days", "txn_count_24h", "is_international",
            "channel", "merchant_category", "merchant_country", "merchant_risk_score"]
    numeric = ["amount", "account_age_days", "txn_count_24h", "is_international", "merchant_risk_score"]
    pipe = Pipeline([
        ("features", ColumnTransformer(
            [("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False), STRING_COLS),
             ("scale", StandardScaler(), numeric)], sparse_threshold=0.0)),
        ("classifier", LogisticRegression(max_iter=2000)),
    ])
    pipe.fit(frame_from_feeds(per_column_feeds(train, cols), cols), y_fraud)
    model = convert_sklearn(pipe, name=name, initial_types=per_column_types(cols), target_opset=TARGET_OPSET)
    normalize(model, meta(name))
    built.append(Built(
        name, "classifier", model,
        {"name": f"zoo-{name}", "version": MODEL_VERSION,
         "inputs": [{"name": n, "field": FIELD_OF[n]} for n in cols if FIELD_OF[n] != n]},
        "yaml", [str(c) for c in pipe.classes_], 1, sk, s2o,
        "skl2onnx convert_sklearn, per-column initial_types, default options (ZipMap)",
        (lambda p, c: lambda feeds: (p.predict_proba(frame_from_feeds(feeds, c)), p.predict(frame_from_feeds(feeds, c))))(pipe, cols),
        "Pipeline(ColumnTransformer(OneHotEncoder(handle_unknown='ignore') on channel, merchant_category, "
        "merchant_country; StandardScaler on amount, account_age_days, txn_count_24h, is_international (0/1), "
        "merchant_risk_score), LogisticRegression), target is_fraud", True))

    # ---- 2. sklearn-numeric ------------------------------------------------------------
    name = "sklearn-numeric"
    columns = [(n, {}) for n in NUMERIC_BASE]
    x = matrix(train, columns)
    rf = RandomForestClassifier(n_estimators=30, max_depth=8, min_samples_leaf=5, random_state=rs, n_jobs=1)
    rf.fit(x.astype(np.float64), y_fraud)
    model = convert_sklearn(rf, name=name, initial_types=[("input", FloatTensorType([None, x.shape[1]]))],
                            target_opset=TARGET_OPSET)
    normalize(model, None)
    built.append(Built(
        name, "classifier", model,
        {"inputs": [{"name": "input", "columns": nf_columns_manifest(columns)}],
         "output": {"kind": "classifier", "scores": "output_probability", "label": "output_label",
                    "positive_class": 1}},
        "json", [str(c) for c in rf.classes_], 1, sk, s2o,
        "skl2onnx convert_sklearn, one FloatTensorType([None, 5]) input, default options (ZipMap)",
        (lambda m: lambda feeds: (m.predict_proba(feeds["input"].astype(np.float64)),
                                  m.predict(feeds["input"].astype(np.float64))))(rf),
        "RandomForestClassifier(30 trees, max_depth 8, min_samples_leaf 5) on amount, account_age_days, "
        "txn_count_24h, is_international, merchant.risk_score; target is_fraud", False))

    # ---- 3. sklearn-hgb-ordinal --------------------------------------------------------
    name = "sklearn-hgb-ordinal"
    cols = ["amount", "account_age_days", "txn_count_24h", "is_international",
            "channel", "merchant_category", "merchant_country", "merchant_risk_score", "distance_km"]
    passthrough = ["amount", "account_age_days", "txn_count_24h", "is_international", "merchant_risk_score",
                   "distance_km"]
    hgb = HistGradientBoostingClassifier(max_iter=80, max_leaf_nodes=15, learning_rate=0.1,
                                         early_stopping=False, categorical_features=None, random_state=rs)
    pipe = Pipeline([
        ("features", ColumnTransformer(
            [("ordinal", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), STRING_COLS),
             ("numeric", "passthrough", passthrough)], sparse_threshold=0.0)),
        ("classifier", hgb),
    ])
    pipe.fit(frame_from_feeds(per_column_feeds(train, cols), cols), y_fraud)
    model = convert_sklearn(pipe, name=name, initial_types=per_column_types(cols), target_opset=TARGET_OPSET)
    normalize(model, None)
    built.append(Built(
        name, "classifier", model,
        {"inputs": [{"name": n, "field": FIELD_OF[n]} for n in cols if FIELD_OF[n] != n]
                   + [{"name": "distance_km", "field": "distance_km", "missing": "nan"}]},
        "yaml", [str(c) for c in pipe.classes_], 1, sk, s2o,
        "skl2onnx convert_sklearn, per-column initial_types (distance_km float, NaN for null), default options (ZipMap)",
        (lambda p, c: lambda feeds: (p.predict_proba(frame_from_feeds(feeds, c)), p.predict(frame_from_feeds(feeds, c))))(pipe, cols),
        "Pipeline(ColumnTransformer(OrdinalEncoder(handle_unknown='use_encoded_value', unknown_value=-1) on "
        "channel, merchant_category, merchant_country; passthrough amount, account_age_days, txn_count_24h, "
        "is_international, merchant_risk_score, distance_km), HistGradientBoostingClassifier(80 iterations, "
        "15 leaves, numeric splits only: categorical_features=None)); target is_fraud; NaN distance handled by HGB",
        False))

    # ---- 4./5. lightgbm, xgboost: [N, 9] float matrix with ordinal codes -------------------
    codes = {c: codes_of(train[c]) for c in STRING_COLS}
    base = [(n, {}) for n in NUMERIC_BASE] + [("distance_km", {"missing": "nan", "missing_value": np.nan})]

    name = "lightgbm"
    columns = base + [(c, {"codes": codes[c]}) for c in STRING_COLS]
    columns[-1] = ("merchant_country", {"codes": codes["merchant_country"], "unknown": "dead-letter"})
    x = matrix(train, columns)
    lgbm = lightgbm.LGBMClassifier(n_estimators=120, num_leaves=15, learning_rate=0.08, min_child_samples=20,
                                   random_state=rs % 2**31, n_jobs=1, deterministic=True, force_row_wise=True,
                                   verbose=-1)
    lgbm.fit(x, y_fraud)
    model = onnxmltools.convert_lightgbm(lgbm, name=name, initial_types=[("input", MLFloatTensorType([None, x.shape[1]]))],
                                         target_opset=ONNXMLTOOLS_OPSET)
    normalize(model, meta(name))
    built.append(Built(
        name, "classifier", model,
        {"name": f"zoo-{name}", "version": MODEL_VERSION,
         "inputs": [{"name": "input", "columns": nf_columns_manifest(columns)}]},
        "yaml", [str(c) for c in lgbm.classes_], 1, f"lightgbm {lightgbm.__version__}",
        f"onnxmltools {onnxmltools.__version__}",
        "onnxmltools.convert_lightgbm, FloatTensorType([None, 9]) input, default options (zipmap=True)",
        (lambda m: lambda feeds: (m.predict_proba(feeds["input"]), m.predict(feeds["input"])))(lgbm),
        "LGBMClassifier(120 trees, 15 leaves, lr 0.08) on 6 numerics (distance_km NaN when null) + channel, "
        "merchant.category, merchant.country as ordinal codes (sorted order, numeric splits); target is_fraud",
        True))

    name = "xgboost"
    columns = base + [(c, {"codes": codes[c]}) for c in STRING_COLS]
    columns[-1] = ("merchant_country", {"codes": codes["merchant_country"], "unknown": "score-and-flag",
                                        "unknown_code": "nan"})
    x = matrix(train, columns)
    xgb = xgboost.XGBClassifier(n_estimators=120, max_depth=4, learning_rate=0.1, tree_method="hist",
                                random_state=rs % 2**31, n_jobs=1, missing=np.nan)
    xgb.fit(x, y_fraud)
    model = onnxmltools.convert_xgboost(xgb, name=name, initial_types=[("input", MLFloatTensorType([None, x.shape[1]]))],
                                        target_opset=ONNXMLTOOLS_OPSET)
    normalize(model, None)
    built.append(Built(
        name, "classifier", model,
        # convert_xgboost adds no ZipMap: probabilities is a plain [N, 2] tensor, so say which output is which
        {"inputs": [{"name": "input", "columns": nf_columns_manifest(columns)}],
         "output": {"kind": "classifier", "scores": "probabilities", "label": "label", "positive_class": 1}},
        "json", [str(c) for c in xgb.classes_], 1, f"xgboost {xgboost.__version__}",
        f"onnxmltools {onnxmltools.__version__}",
        "onnxmltools.convert_xgboost, FloatTensorType([None, 9]) input, default options",
        (lambda m: lambda feeds: (m.predict_proba(feeds["input"]), m.predict(feeds["input"])))(xgb),
        "XGBClassifier(120 trees, depth 4, hist) on the same [N, 9] matrix as lightgbm (NaN = missing); an "
        "unknown merchant.country is fed as NaN (score-and-flag)", False))

    # ---- 6. catboost ----------------------------------------------------------------------
    name = "catboost"
    columns = [(n, {}) for n in NUMERIC_BASE] + [("distance_km", {"missing": "nan", "missing_value": np.nan})]
    x = matrix(train, columns)
    cb = catboost.CatBoostClassifier(iterations=150, depth=4, learning_rate=0.1, random_seed=rs % 2**31,
                                     thread_count=1, verbose=0, allow_writing_files=False)
    cb.fit(x, y_fraud)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        cb.save_model(str(path), format="onnx", export_parameters={"onnx_graph_name": "zoo-catboost"})
        model = onnx.load(str(path))
    # CatBoost writes the wall-clock end of training and a random model GUID into metadata_props: the only
    # two things that differ between runs. They are dropped; the rest of its metadata is kept as exported.
    normalize(model, None, drop_metadata=("train_finish_time", "model_guid"))
    built.append(Built(
        name, "classifier", model,
        {"inputs": [{"name": graph_inputs_of(model)[0][0], "columns": nf_columns_manifest(columns)}]},
        "json", [str(c) for c in cb.classes_], 1, f"catboost {catboost.__version__}",
        f"catboost {catboost.__version__} save_model(format='onnx')",
        "CatBoost's own save_model(format='onnx')",
        (lambda m, i: lambda feeds: (m.predict_proba(feeds[i]), m.predict(feeds[i])))(cb, graph_inputs_of(model)[0][0]),
        "CatBoostClassifier(150 iterations, depth 4) on amount, account_age_days, txn_count_24h, is_international, "
        "merchant.risk_score, distance_km (NaN when null; numeric features only, the ONNX export refuses "
        "categorical features); target is_fraud", False))

    # ---- 7. sklearn-regressor ------------------------------------------------------------
    name = "sklearn-regressor"
    columns = [(n, {}) for n in NUMERIC_BASE] + [("distance_km", {"missing": "default",
                                                                   "missing_value": DISTANCE_DEFAULT})]
    x = matrix(train, columns)
    rfr = RandomForestRegressor(n_estimators=25, max_depth=8, min_samples_leaf=10, random_state=rs, n_jobs=1)
    rfr.fit(x.astype(np.float64), train["expected_loss"].to_numpy())
    model = convert_sklearn(rfr, name=name, initial_types=[("input", FloatTensorType([None, x.shape[1]]))],
                            target_opset=TARGET_OPSET)
    normalize(model, meta(name))
    built.append(Built(
        name, "regressor", model,
        {"name": f"zoo-{name}", "version": MODEL_VERSION,
         "inputs": [{"name": "input", "columns": nf_columns_manifest(columns)}],
         "output": {"kind": "regressor", "scores": model.graph.output[0].name}},
        "yaml", [], 0, sk, s2o,
        "skl2onnx convert_sklearn, one FloatTensorType([None, 6]) input, default options",
        (lambda m: lambda feeds: (m.predict(feeds["input"].astype(np.float64)), None))(rfr),
        "RandomForestRegressor(25 trees, max_depth 8, min_samples_leaf 10) on amount, account_age_days, "
        f"txn_count_24h, is_international, merchant.risk_score, distance_km ({DISTANCE_DEFAULT} when null: "
        "manifest missing: default); target expected_loss", True))

    # ---- 8. sklearn-multiclass -----------------------------------------------------------
    name = "sklearn-multiclass"
    cols = ["amount", "account_age_days", "txn_count_24h", "is_international",
            "channel", "merchant_category", "merchant_country", "merchant_risk_score"]
    numeric = ["amount", "account_age_days", "txn_count_24h", "is_international", "merchant_risk_score"]
    pipe = Pipeline([
        ("features", ColumnTransformer(
            [("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False), STRING_COLS),
             ("numeric", "passthrough", numeric)], sparse_threshold=0.0)),
        ("classifier", GradientBoostingClassifier(n_estimators=40, max_depth=3, learning_rate=0.15,
                                                  random_state=rs)),
    ])
    pipe.fit(frame_from_feeds(per_column_feeds(train, cols), cols), train["risk_tier"].to_numpy(dtype=object))
    model = convert_sklearn(pipe, name=name, initial_types=per_column_types(cols), target_opset=TARGET_OPSET)
    normalize(model, None)
    classes = [str(c) for c in pipe.classes_]
    built.append(Built(
        name, "classifier", model,
        {"inputs": [{"name": n, "field": FIELD_OF[n]} for n in cols if FIELD_OF[n] != n],
         "output": {"positive_class": "high"}},
        "json", classes, classes.index("high"), sk, s2o,
        "skl2onnx convert_sklearn, per-column initial_types, default options (ZipMap, string class labels)",
        (lambda p, c: lambda feeds: (p.predict_proba(frame_from_feeds(feeds, c)), p.predict(frame_from_feeds(feeds, c))))(pipe, cols),
        "Pipeline(ColumnTransformer(OneHotEncoder(handle_unknown='ignore') on channel, merchant_category, "
        "merchant_country; passthrough numerics), GradientBoostingClassifier(40 x 3 trees, depth 3)); target "
        "risk_tier with string labels low/medium/high; score = P(high)", False))

    # ---- 9. sklearn-mlp --------------------------------------------------------------------
    name = "sklearn-mlp"
    columns = [(n, {}) for n in NUMERIC_BASE]
    x = matrix(train, columns)
    mlp_pipe = Pipeline([
        ("scale", StandardScaler()),
        ("mlp", MLPClassifier(hidden_layer_sizes=(16, 8), max_iter=200, random_state=rs)),
    ])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: max_iter is deliberately small
        mlp_pipe.fit(x.astype(np.float64), y_fraud)
    model = convert_sklearn(mlp_pipe, name=name, initial_types=[("input", FloatTensorType([None, x.shape[1]]))],
                            target_opset=TARGET_OPSET)
    normalize(model, None)
    built.append(Built(
        name, "classifier", model,
        {"inputs": [{"name": "input", "columns": nf_columns_manifest(columns)}]},
        "yaml", [str(c) for c in mlp_pipe.classes_], 1, sk, s2o,
        "skl2onnx convert_sklearn, one FloatTensorType([None, 5]) input, default options (ZipMap)",
        (lambda m: lambda feeds: (m.predict_proba(feeds["input"].astype(np.float64)),
                                  m.predict(feeds["input"].astype(np.float64))))(mlp_pipe),
        "Pipeline(StandardScaler, MLPClassifier(hidden (16, 8), relu, adam, 200 epochs max)) on amount, "
        "account_age_days, txn_count_24h, is_international, merchant.risk_score; target is_fraud", False))

    # ---- 10. sklearn-logit: a graph made by hand -----------------------------------------------
    name = "sklearn-logit"
    columns = [(n, {}) for n in NUMERIC_BASE]
    x = matrix(train, columns)
    logit_pipe = Pipeline([("scale", StandardScaler()), ("logreg", LogisticRegression(max_iter=2000))])
    logit_pipe.fit(x.astype(np.float64), y_fraud)
    scaler, logreg = logit_pipe.named_steps["scale"], logit_pipe.named_steps["logreg"]
    # fold the scaler into the linear model: logit = ((x - mean) / scale) . w + b = x . (w / scale) + b'
    coef = logreg.coef_[0] / scaler.scale_
    intercept = logreg.intercept_[0] - float(np.sum(logreg.coef_[0] * scaler.mean_ / scaler.scale_))
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["input", "coef"], ["xw"], name="MatMul"),
         helper.make_node("Add", ["xw", "intercept"], ["logit"], name="Add")],
        name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", x.shape[1]])],
        [helper.make_tensor_value_info("logit", TensorProto.FLOAT, ["N", 1])],
        initializer=[
            helper.make_tensor("coef", TensorProto.FLOAT, [x.shape[1], 1],
                               coef.astype(np.float32).tolist()),
            helper.make_tensor("intercept", TensorProto.FLOAT, [1], [float(np.float32(intercept))]),
        ])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="models/zoo/build.py",
                              producer_version="1.0")
    model.ir_version = 8  # opset 17 pairs with IR 8
    model.doc_string = ("Logit of a LogisticRegression (StandardScaler folded into the weights): "
                        "logit = input . coef + intercept; P(is_fraud) = sigmoid(logit).")
    onnx.checker.check_model(model, full_check=True)
    normalize(model, meta(name))
    built.append(Built(
        name, "classifier", model,
        {"name": f"zoo-{name}", "version": MODEL_VERSION,
         "inputs": [{"name": "input", "columns": nf_columns_manifest(columns)}],
         "output": {"kind": "probability", "scores": "logit", "transform": "sigmoid"}},
        "json", [str(c) for c in logit_pipe.classes_], 1, sk, f"hand-made (onnx.helper, onnx {onnx.__version__})",
        "hand-made ONNX graph (onnx.helper, opset 17): MatMul + Add, ends before the sigmoid",
        (lambda m: lambda feeds: (m.predict_proba(feeds["input"].astype(np.float64)),
                                  m.predict(feeds["input"].astype(np.float64))))(logit_pipe),
        "Pipeline(StandardScaler, LogisticRegression) on amount, account_age_days, txn_count_24h, "
        "is_international, merchant.risk_score, exported by hand as logit = X . coef + intercept "
        "(scaler folded into coef/intercept); target is_fraud", True))

    return built


# --------------------------------------------------------------------------------------
# Scoring with onnxruntime
# --------------------------------------------------------------------------------------

def ort_session(model):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), sess_options=so, providers=["CPUExecutionProvider"])


def run_onnx(b: Built, sess, feeds: dict) -> dict:
    """onnxruntime outputs turned into scores / probabilities / labels (labels as strings)."""
    names = [o.name for o in sess.get_outputs()]
    outs = dict(zip(names, sess.run(None, feeds)))
    if b.name == "sklearn-logit":
        logit = outs["logit"].astype(np.float64)[:, 0]
        p1 = 1.0 / (1.0 + np.exp(-logit))
        return {"logits": logit, "scores": p1}
    if b.kind == "regressor":
        (value,) = outs.values()
        return {"scores": value.astype(np.float64).reshape(-1)}
    zm = zipmap_output(b.onnx_model)
    label_name = next(o.name for o in b.onnx_model.graph.output if o.name != zm and "label" in o.name)
    if zm is not None:
        rows = outs[zm]
        keys = list(rows[0].keys())
        if [str(k) for k in keys] != b.classes:
            raise SystemExit(f"{b.name}: ZipMap keys {keys} != classes {b.classes}")
        proba = np.array([[r[k] for k in keys] for r in rows], dtype=np.float64)
    else:
        proba_name = next(o.name for o in b.onnx_model.graph.output if o.name != label_name)
        proba = outs[proba_name].astype(np.float64)
    labels = [str(v) for v in outs[label_name].reshape(-1)]
    return {"scores": proba[:, b.positive_class_index], "probabilities": proba, "labels": labels}


def run_framework(b: Built, feeds: dict) -> dict:
    out, labels = b.predict(feeds)
    out = np.asarray(out, dtype=np.float64)
    if b.kind == "regressor":
        return {"scores": out.reshape(-1)}
    return {"scores": out[:, b.positive_class_index], "probabilities": out,
            "labels": [str(v) for v in np.asarray(labels).reshape(-1)]}


def max_diff(a: dict, b: dict) -> float:
    if "probabilities" in a and "probabilities" in b:
        return float(np.abs(a["probabilities"] - b["probabilities"]).max())
    return float(np.abs(a["scores"] - b["scores"]).max())


# --------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------

def floats(a) -> list:
    return [float(v) for v in np.asarray(a, dtype=np.float64).reshape(-1)]


def result_json(r: dict, kind: str) -> dict:
    out = {"scores": floats(r["scores"])}
    if "logits" in r:
        out = {"logits": floats(r["logits"]), **out}
    if kind != "regressor" and "probabilities" in r:
        out["probabilities"] = [floats(row) for row in r["probabilities"]]
        out["labels"] = list(r["labels"])
    return out


def yaml_value(v) -> str:
    """A scalar or a flat mapping (codes) in YAML flow style, quoted where YAML needs it."""
    import yaml
    if isinstance(v, str) and v.count(".") >= 1 and v.replace(".", "").isdigit():
        return json.dumps(v)  # "1.0.0": quoted, as in the manifest format's example
    text = yaml.safe_dump(v, default_flow_style=True, width=10**6, sort_keys=False).strip()
    return text[:-3].strip() if text.endswith("\n...") else text


def manifest_yaml(b: Built) -> str:
    lines = [f"# stream-scorer manifest of models/zoo/{b.name}, written by models/zoo/build.py"]
    m = b.manifest
    for key in ("name", "version"):
        if key in m:
            lines.append(f"{key}: {yaml_value(m[key])}")
    if "inputs" in m:
        lines.append("inputs:")
        for spec in m["inputs"]:
            first = True
            for k, v in spec.items():
                lead = "  - " if first else "    "
                first = False
                if k == "columns":
                    lines.append(f"{lead}columns:")
                    for col in v:
                        for j, (ck, cv) in enumerate(col.items()):
                            lines.append(f"{'      - ' if j == 0 else '        '}{ck}: {yaml_value(cv)}")
                else:
                    lines.append(f"{lead}{k}: {yaml_value(v)}")
    if "output" in m:
        lines.append("output:")
        for k, v in m["output"].items():
            lines.append(f"  {k}: {yaml_value(v)}")
    return "\n".join(lines) + "\n"


def write_manifest(path_dir: Path, b: Built) -> str:
    import yaml
    if b.manifest_format == "json":
        (path_dir / "manifest.json").write_text(json.dumps(b.manifest, indent=2) + "\n")
        return "manifest.json"
    text = manifest_yaml(b)
    if yaml.safe_load(text) != b.manifest:
        raise SystemExit(f"{b.name}: manifest.yaml does not read back as the manifest:\n{text}")
    (path_dir / "manifest.yaml").write_text(text)
    return "manifest.yaml"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"seed of every random draw (default {DEFAULT_SEED})")
    ap.add_argument("--out", type=Path, default=HERE, help="output folder (default: this script's folder)")
    ap.add_argument("--only", nargs="*", help="write only these model folders (all are still trained)")
    args = ap.parse_args()
    t0 = time.perf_counter()

    from threadpoolctl import threadpool_limits
    threadpool_limits(1)

    import catboost
    import fastavro
    import google.protobuf
    import lightgbm
    import onnx
    import onnxconverter_common
    import onnxmltools
    import onnxruntime as ort
    import skl2onnx
    import sklearn
    import xgboost
    import yaml

    versions = {
        "python": platform.python_version(),
        "numpy": np.__version__, "pandas": pd.__version__, "scikit-learn": sklearn.__version__,
        "skl2onnx": skl2onnx.__version__, "onnxmltools": onnxmltools.__version__,
        "onnxconverter-common": onnxconverter_common.__version__, "lightgbm": lightgbm.__version__,
        "xgboost": xgboost.__version__, "catboost": catboost.__version__, "onnx": onnx.__version__,
        "onnxruntime": ort.__version__, "protobuf": google.protobuf.__version__, "fastavro": fastavro.__version__,
        "pyyaml": yaml.__version__,
    }
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))

    # ---- data ---------------------------------------------------------------------------
    df = make_dataset(args.seed, DEFAULT_ROWS)
    rng = np.random.default_rng(args.seed + 1)
    perm = rng.permutation(len(df))
    held = np.sort(perm[:HELD_OUT_ROWS])
    train = df.iloc[np.sort(perm[HELD_OUT_ROWS:])].reset_index(drop=True)
    test = df.iloc[held].reset_index(drop=True)

    # reference events: 10 with null distance_km, 25 frauds, the rest random (held-out rows only)
    null_d = np.flatnonzero(test["distance_km"].isna().to_numpy())
    fraud = np.flatnonzero((test["is_fraud"].to_numpy() == 1) & test["distance_km"].notna().to_numpy())
    chosen = set(rng.choice(null_d, REFERENCE_NULL_DISTANCE, replace=False).tolist())
    chosen |= set(rng.choice(fraud, REFERENCE_FRAUDS, replace=False).tolist())
    rest = np.setdiff1d(np.flatnonzero(test["distance_km"].notna().to_numpy()), np.fromiter(chosen, np.int64))
    chosen |= set(rng.choice(rest, REFERENCE_EVENTS - len(chosen), replace=False).tolist())
    ref = test.iloc[sorted(chosen)].reset_index(drop=True)
    events = [to_event(r) for r in ref.to_dict("records")]
    check_events(events)
    check_events([to_event(r) for r in df.to_dict("records")])
    print(f"data: {len(df)} events (train {len(train)}, held out {len(test)}), fraud rate {df['is_fraud'].mean():.4f}, "
          f"risk_tier {df['risk_tier'].value_counts(normalize=True).round(3).to_dict()}, "
          f"null distance_km {df['distance_km'].isna().mean():.4f}, expected_loss mean {df['expected_loss'].mean():.3f}; "
          f"reference {len(events)} events ({sum(e['distance_km'] is None for e in events)} null distance_km, "
          f"{int(ref['is_fraud'].sum())} fraud)")
    t_data = time.perf_counter()

    # ---- models -------------------------------------------------------------------------
    built = build_all(train, args.seed, versions)
    t_fit = time.perf_counter()

    rows = []
    failures = []
    outputs = {}
    for b in built:
        onnx.checker.check_model(b.onnx_model, full_check=True)
        sess = ort_session(b.onnx_model)
        gin = graph_inputs_of(b.onnx_model)
        feeds = feeds_from_events(events, b.manifest, gin)
        # the tensors built from the events through the manifest must equal the training encoding
        flat = ref_feeds_flat(b, ref, gin)
        for k in feeds:
            if feeds[k].dtype == object:
                same = (feeds[k] == flat[k]).all()
            else:
                same = np.array_equal(feeds[k], flat[k], equal_nan=True)
            if not same or feeds[k].dtype != flat[k].dtype:
                raise SystemExit(f"{b.name}: input {k} from events/manifest differs from the training encoding")
        onnx_ref = run_onnx(b, sess, feeds)
        fw_ref = run_framework(b, feeds)
        if b.name == "sklearn-logit":
            onnx_ref["probabilities"] = np.column_stack([1.0 - onnx_ref["scores"], onnx_ref["scores"]])
            onnx_ref["labels"] = [b.classes[1] if p > 0.5 else b.classes[0] for p in onnx_ref["scores"]]
        d_ref = max_diff(fw_ref, onnx_ref)
        # the same on the whole held-out split
        test_feeds = ref_feeds_flat(b, test, gin)
        onnx_test = run_onnx(b, sess, test_feeds)
        if b.name == "sklearn-logit":
            onnx_test = logit_as_proba(onnx_test)
        d_test = max_diff(run_framework(b, test_feeds), onnx_test)
        metric = held_out_metric(b, test, onnx_test)
        tol = TOLERANCE_BY_MODEL.get(b.name, TOLERANCE)
        # unknown category: where the model itself scores one (string inputs through OneHotEncoder(ignore) /
        # OrdinalEncoder(-1), or xgboost's score-and-flag NaN), ONNX must score it as the framework does
        unknown = "-"
        if any(e == "string" for _, e in gin) or b.name == "xgboost":
            odd = copy.deepcopy(events)
            for e in odd:
                e["merchant"]["country"] = "ZZ"
            odd_feeds = feeds_from_events(odd, b.manifest, gin)
            d_unknown = max_diff(run_framework(b, odd_feeds), run_onnx(b, sess, odd_feeds))
            unknown = f"{d_unknown:.3e}"
            if d_unknown > tol:
                failures.append(f"{b.name}: unknown merchant.country scored differently ({d_unknown:.3e})")
        label_flips = 0
        if "labels" in fw_ref:
            label_flips = sum(a != c for a, c in zip(fw_ref["labels"], onnx_ref["labels"]))
        if d_ref > tol or d_test > tol:
            failures.append(f"{b.name}: max diff {max(d_ref, d_test):.3e} > tolerance {tol:g}")
        outputs[b.name] = (onnx_ref, fw_ref, d_ref, d_test)
        rows.append((b.name, short_export(b), d_ref, d_test, label_flips, unknown, metric))

    # ---- table --------------------------------------------------------------------------
    w = max(len(r[0]) for r in rows)
    header = (f"{'model':<{w}}  {'export':<34}  {'max|fw-ort| ref (200)':>21}  {'held-out (5000)':>15}  "
              f"{'label diffs':>11}  {'country ZZ':>10}  held-out metric (onnxruntime)")
    print(header)
    print("-" * len(header))
    for name, kind, d_ref, d_test, flips, unknown, metric in rows:
        print(f"{name:<{w}}  {kind[:34]:<34}  {d_ref:>21.3e}  {d_test:>15.3e}  {flips:>11}  {unknown:>10}  {metric}")
    print("max|fw-ort|: largest |framework - onnxruntime| over all probabilities (regressor: values); label diffs: "
          "reference events whose labels differ; country ZZ: the reference events with merchant.country set to an "
          "unknown 'ZZ', for the models that score unknown categories themselves")
    if failures:
        for f in failures:
            print("FAIL: " + f, file=sys.stderr)
        print("nothing written", file=sys.stderr)
        return 1

    # ---- artifacts ----------------------------------------------------------------------
    schema_text = json.dumps(SCHEMA, indent=2) + "\n"
    for b in built:
        if args.only and b.name not in args.only:
            continue
        d = args.out / b.name
        d.mkdir(parents=True, exist_ok=True)
        (d / "model.onnx").write_bytes(b.onnx_model.SerializeToString())
        (d / "schema.avsc").write_text(schema_text)
        manifest_file = write_manifest(d, b)
        stale = d / ("manifest.json" if manifest_file == "manifest.yaml" else "manifest.yaml")
        if stale.exists():
            stale.unlink()
        onnx_ref, fw_ref, d_ref, d_test = outputs[b.name]
        reference = {
            "model": b.name,
            "framework_name": b.framework,
            "converter": b.converter,
            "kind": b.kind,
            "classes": b.classes,
            "positive_class_index": b.positive_class_index,
            "generated_by": f"models/zoo/build.py --seed {args.seed}",
            "events": events,
            "onnxruntime": result_json(onnx_ref, b.kind),
            # the spec's example uses "framework" twice (name string, then outputs object); JSON.parse keeps the
            # last one, so "framework" is the outputs object here, with the name inside and in framework_name
            "framework": {"name": b.framework, **result_json(fw_ref, b.kind)},
            "max_abs_diff_framework_vs_onnxruntime": d_ref,
            # the same over all 5,000 held-out events (the 200 reference events are a sample of them)
            "max_abs_diff_framework_vs_onnxruntime_held_out": d_test,
            "versions": versions,
        }
        if b.name == "sklearn-logit":
            reference["note"] = ("The graph outputs a logit. onnxruntime.logits is that output (float32 widened); "
                                 "onnxruntime.scores = sigmoid(logit) computed in float64; onnxruntime.probabilities "
                                 "= [1 - score, score] and onnxruntime.labels = '1' if score > 0.5 else '0' are "
                                 "derived from it (the graph has no label output).")
        (d / "reference.json").write_text(json.dumps(reference, indent=1) + "\n")

    # ---- description of every graph ------------------------------------------------------------
    print()
    for b in built:
        m = b.onnx_model
        opsets = ", ".join(f"{o.domain or 'ai.onnx'}={o.version}" for o in m.opset_import)
        props = {p.key: (p.value if len(p.value) <= 40 else f"<{len(p.value)} chars>") for p in m.metadata_props}
        producer = " ".join(t.splitlines()[0] for t in (m.producer_name, m.producer_version) if t)
        print(f"{b.name}: {len(m.SerializeToString()):,} bytes, ir {m.ir_version}, opsets {opsets}, "
              f"producer {producer!r}, metadata_props {props or '{}'}")
        for i in m.graph.input:
            print(f"  input  {i.name}: {describe_type(i.type)}")
        for o in m.graph.output:
            zipmap = next((n for n in m.graph.node if n.op_type == "ZipMap" and o.name in n.output), None)
            under = f"  (ZipMap of tensor '{zipmap.input[0]}')" if zipmap is not None else ""
            print(f"  output {o.name}: {describe_type(o.type)}{under}")
    print(f"\ndata {t_data - t0:.1f}s, fit+export {t_fit - t_data:.1f}s, total {time.perf_counter() - t0:.1f}s; "
          f"wrote {args.out}")
    return 0


def short_export(b: Built) -> str:
    if b.name == "sklearn-logit":
        return "hand-made (onnx.helper)"
    if b.name == "catboost":
        return "catboost save_model(format='onnx')"
    return b.export_kind.split(",")[0]


def held_out_metric(b: Built, test: pd.DataFrame, r: dict) -> str:
    from sklearn.metrics import accuracy_score, r2_score, roc_auc_score
    if b.kind == "regressor":
        return f"R2 {r2_score(test['expected_loss'], r['scores']):.4f}"
    if len(b.classes) > 2:
        pred = [b.classes[i] for i in np.argmax(r["probabilities"], axis=1)]
        return f"accuracy {accuracy_score(test['risk_tier'].astype(str), pred):.4f}"
    return f"ROC AUC {roc_auc_score(test['is_fraud'], r['scores']):.4f}"


def logit_as_proba(r: dict) -> dict:
    p = r["scores"]
    return {"scores": p, "probabilities": np.column_stack([1.0 - p, p])}


def ref_feeds_flat(b: Built, frame: pd.DataFrame, gin: list[tuple[str, str]]) -> dict:
    """The graph feeds built straight from the flat frame (the training encoding)."""
    specs = {i["name"]: i for i in b.manifest.get("inputs", [])}
    feeds = {}
    for name, elem in gin:
        spec = specs.get(name)
        if spec is not None and "columns" in spec:
            flat_of = {v: k for k, v in FIELD_OF.items()}
            cols = []
            for c in spec["columns"]:
                opts = {}
                if c.get("kind") == "categorical":
                    opts["codes"] = c["codes"]
                if c.get("missing") == "nan":
                    opts["missing_value"] = np.nan
                elif c.get("missing") == "default":
                    opts["missing_value"] = c["default"]
                cols.append((flat_of[c["field"]], opts))
            feeds[name] = matrix(frame, cols)
        else:
            feeds.update(per_column_feeds(frame, [name]))
            expected = {"string": object, "int64": np.int64, "float": np.float32}[elem]
            if feeds[name].dtype != expected:
                raise SystemExit(f"{b.name}: input {name} is {elem} in the graph")
    return feeds


if __name__ == "__main__":
    sys.exit(main())
