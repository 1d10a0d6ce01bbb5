#!/usr/bin/env python3
"""Build the example "card-fraud" model that stream-scorer serves.

This is the kind of script a data scientist hands over with a model: it makes a
synthetic but realistic data set of card payments whose columns are exactly the
fields of schemas/payment-event.avsc, trains a scikit-learn pipeline
(one-hot encoding + gradient boosted trees), converts it to ONNX with skl2onnx,
checks that ONNX and scikit-learn agree, and writes, next to this file:

  model.onnx      the model, one graph input per model feature
  reference.json  held-out events with the scores Python onnxruntime gives them
  profile.json    training profile of every model input and of the scores (for drift)
  sample.json     the 8,000 held-out events (model inputs) and their scores, for drift scenario tests

Everything is derived from --seed (default 20261127), so reruns give the same
bytes. Nothing is written outside this folder.

    python3 -m venv ../../.cache/venv-model
    ../../.cache/venv-model/bin/pip install -r requirements.txt
    ../../.cache/venv-model/bin/python train.py            # --seed 20261127
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
SCHEMA_PATH = HERE.parent.parent / "schemas" / "payment-event.avsc"

MODEL_NAME = "card-fraud"
MODEL_VERSION = "1.0.0"  # semantic version, metadata_props["model_version"]
MODEL_VERSION_INT = 1  # ModelProto.model_version
DEFAULT_SEED = 20261127
DEFAULT_ROWS = 40_000
TEST_SHARE = 0.2
REFERENCE_EVENTS = 300
TOLERANCE = 1e-4
TARGET_FRAUD_RATE = 0.04
TARGET_OPSET = {"": 17, "ai.onnx.ml": 3}

CATEGORICAL = ["merchant_category", "channel", "country", "card_type"]
NUMERIC = [
    "amount",
    "account_age_days",
    "txn_count_24h",
    "avg_amount_30d",
    "distance_from_home_km",
    "seconds_since_last_txn",
    "merchant_risk_score",
]

# --------------------------------------------------------------------------------------
# The world the payments come from
# --------------------------------------------------------------------------------------

# merchant_category -> (share of merchants, median amount, fraud log-odds, risk-score bump)
CATEGORY_SPEC = {
    "grocery":         (0.20,  38.0, -0.6, -0.4),
    "restaurants":     (0.15,  29.0, -0.3, -0.2),
    "fuel":            (0.08,  58.0, -0.2, -0.1),
    "pharmacy":        (0.07,  21.0, -0.5, -0.3),
    "fashion":         (0.10,  72.0,  0.1,  0.0),
    "electronics":     (0.08, 190.0,  0.8,  0.4),
    "travel":          (0.07, 310.0,  0.4,  0.2),
    "digital_goods":   (0.09,  14.0,  0.9,  0.6),
    "gaming":          (0.06,  24.0,  0.6,  0.5),
    "jewelry":         (0.03, 420.0,  1.1,  0.6),
    "cash_withdrawal": (0.07, 110.0,  0.3,  0.0),
}
# share of a category's merchants that sell online (card not present), and of those the
# share of mail/telephone orders (moto) among their card-not-present payments
ONLINE_SHARE = {
    "grocery": 0.08, "restaurants": 0.12, "fuel": 0.0, "pharmacy": 0.15, "fashion": 0.35,
    "electronics": 0.45, "travel": 0.70, "digital_goods": 1.0, "gaming": 0.85,
    "jewelry": 0.25, "cash_withdrawal": 0.0,
}
MOTO_SHARE = {
    "grocery": 0.02, "restaurants": 0.25, "fuel": 0.0, "pharmacy": 0.20, "fashion": 0.03,
    "electronics": 0.06, "travel": 0.20, "digital_goods": 0.0, "gaming": 0.0,
    "jewelry": 0.30, "cash_withdrawal": 0.0,
}

# country -> (lat, lon of a centroid, share of cardholders living there, share of
#             foreign merchants located there, fraud log-odds, risk-score bump, currency)
COUNTRY_SPEC = {
    "DE": (51.2,  10.4, 0.30, 0.06,  0.0, 0.0, "EUR"),
    "FR": (46.6,   2.4, 0.20, 0.06,  0.0, 0.0, "EUR"),
    "NL": (52.2,   5.3, 0.12, 0.05,  0.0, 0.0, "EUR"),
    "ES": (40.4,  -3.7, 0.11, 0.08,  0.1, 0.0, "EUR"),
    "IT": (42.8,  12.5, 0.11, 0.07,  0.1, 0.0, "EUR"),
    "IE": (53.3,  -7.7, 0.04, 0.05,  0.0, 0.0, "EUR"),
    "BE": (50.6,   4.6, 0.05, 0.03,  0.0, 0.0, "EUR"),
    "GB": (53.0,  -1.5, 0.07, 0.14,  0.1, 0.0, "GBP"),
    "US": (39.8, -98.6, 0.00, 0.24,  0.4, 0.2, "USD"),
    "RO": (45.9,  24.9, 0.00, 0.08,  0.9, 0.5, "EUR"),
    "BR": (-14.2, -51.9, 0.00, 0.06, 1.1, 0.6, "USD"),
    "NG": (9.1,    8.7, 0.00, 0.08,  1.6, 0.9, "USD"),
}
HOME_COUNTRIES = [c for c, s in COUNTRY_SPEC.items() if s[2] > 0]

# card_type -> (share of cards, fraud log-odds)
CARD_TYPE_SPEC = {"debit": (0.56, 0.0), "credit": (0.39, 0.25), "prepaid": (0.05, 1.2)}

# channel -> fraud log-odds
CHANNEL_LOGODDS = {"pos": 0.0, "contactless": -0.5, "ecommerce": 1.0, "moto": 1.4, "atm": 0.4}
CONTACTLESS_LIMIT = 100.0  # above it a card-present payment needs chip and PIN (pos)

YEAR_START_MS = int(dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc).timestamp() * 1000)
DATA_DAYS = 304  # events from 2026-01-01 up to 2026-10-31 (training data predates trained_at)
DAY_MS = 86_400_000
INT32_MAX = 2**31 - 1


SAMPLE_ROWS = 8000  # the whole held-out split


def trained_at_from_seed(seed: int) -> str:
    """A fixed training timestamp derived from the seed (never the wall clock).

    A seed that reads as a date YYYYMMDD (the default 20261127) gives that day at
    00:00:00Z; any other seed gives 2026-11-01 plus (seed mod 60) days.
    """
    try:
        day = dt.datetime.strptime(str(seed), "%Y%m%d").replace(tzinfo=dt.timezone.utc)
    except ValueError:
        day = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc) + dt.timedelta(days=seed % 60)
    return day.strftime("%Y-%m-%dT%H:%M:%SZ")


def haversine_km(lat1, lon1, lat2, lon2):
    lat1, lon1, lat2, lon2 = map(np.radians, (lat1, lon1, lat2, lon2))
    a = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 6371.0 * 2 * np.arcsin(np.sqrt(a))


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def make_dataset(seed: int, n_rows: int) -> pd.DataFrame:
    """Synthetic card payments; columns = the Avro fields in schema order, plus is_fraud."""
    rng = np.random.default_rng(seed)
    categories = list(CATEGORY_SPEC)
    countries = list(COUNTRY_SPEC)

    # ---- merchants ------------------------------------------------------------------
    n_merchants = 3_000
    m_cat = rng.choice(categories, size=n_merchants, p=[CATEGORY_SPEC[c][0] for c in categories])
    m_online = rng.random(n_merchants) < np.array([ONLINE_SHARE[c] for c in m_cat])
    m_moto_share = np.array([MOTO_SHARE[c] for c in m_cat])
    home_w = np.array([COUNTRY_SPEC[c][2] for c in countries])
    foreign_w = np.array([COUNTRY_SPEC[c][3] for c in countries])
    # card-present merchants sit mostly where the cardholders live; online ones anywhere
    physical_w = 0.93 * home_w + 0.07 * foreign_w
    online_w = 0.60 * home_w + 0.40 * foreign_w
    m_country = np.where(
        m_online,
        rng.choice(countries, size=n_merchants, p=online_w / online_w.sum()),
        rng.choice(countries, size=n_merchants, p=physical_w / physical_w.sum()),
    )
    m_risk_logit = (
        -2.3
        + np.array([CATEGORY_SPEC[c][3] for c in m_cat])
        + np.array([COUNTRY_SPEC[c][5] for c in m_country])
        + 0.4 * m_online
        + rng.normal(0.0, 0.6, n_merchants)
    )
    # merchant_risk_score is an Avro float: keep exactly float32-representable values
    m_risk = np.round(sigmoid(m_risk_logit), 4).astype(np.float32).astype(np.float64)
    m_ids = np.array([f"mer_{x:08d}" for x in rng.choice(10**8, size=n_merchants, replace=False)])
    m_terminals = rng.integers(1, 9, n_merchants)

    # ---- cards ----------------------------------------------------------------------
    n_cards = 12_000
    c_home = rng.choice(HOME_COUNTRIES, size=n_cards,
                        p=np.array([COUNTRY_SPEC[c][2] for c in HOME_COUNTRIES]) / sum(COUNTRY_SPEC[c][2] for c in HOME_COUNTRIES))
    card_types = list(CARD_TYPE_SPEC)
    c_type = rng.choice(card_types, size=n_cards, p=[CARD_TYPE_SPEC[t][0] for t in card_types])
    c_new = rng.random(n_cards) < 0.10  # opened during 2026
    c_open_day = rng.integers(0, DATA_DAYS - 20, n_cards)  # day of 2026 a new card was opened
    c_age0 = np.clip(rng.lognormal(math.log(1100), 0.8, n_cards), 60, 12_000).astype(np.int64)
    c_spend = rng.lognormal(math.log(55.0), 0.55, n_cards)  # typical ticket of the card
    c_rate = rng.lognormal(math.log(1.3), 0.6, n_cards)  # payments per day
    c_ids = np.array([f"card_{rng.bytes(8).hex()}" for _ in range(n_cards)])
    c_ua = np.array([rng.bytes(8).hex() for _ in range(n_cards)])  # the cardholder's browser
    c_activity = rng.lognormal(0.0, 0.9, n_cards)

    # ---- events ---------------------------------------------------------------------
    n = n_rows
    card = rng.choice(n_cards, size=n, p=c_activity / c_activity.sum())
    home = c_home[card]

    # which kind of merchant: card present (physical), card not present (online), ATM
    kind = rng.choice(["physical", "online", "atm"], size=n, p=[0.64, 0.29, 0.07])
    domestic = rng.random(n) < np.where(kind == "online", 0.62, 0.91)
    merchant = np.empty(n, dtype=np.int64)
    m_kind = np.where(m_cat == "cash_withdrawal", "atm", np.where(m_online, "online", "physical"))
    for k in ("physical", "online", "atm"):
        for c in HOME_COUNTRIES:
            for dom in (True, False):
                rows = np.flatnonzero((kind == k) & (home == c) & (domestic == dom))
                if rows.size == 0:
                    continue
                pool = np.flatnonzero((m_kind == k) & ((m_country == c) == dom))
                merchant[rows] = rng.choice(pool, size=rows.size)
    cat = m_cat[merchant]
    country = m_country[merchant]

    # amount: category ticket size scaled by the card's habits
    cat_median = np.array([CATEGORY_SPEC[c][1] for c in cat])
    amount = cat_median * (c_spend[card] / 55.0) ** 0.6 * rng.lognormal(0.0, 0.75, n)
    amount = np.where(cat == "cash_withdrawal", np.maximum(20.0, np.round(amount / 10.0) * 10.0), amount)
    amount = np.round(np.clip(amount, 0.5, 25_000.0), 2)

    # channel
    u = rng.random(n)
    channel = np.where(
        kind == "atm", "atm",
        np.where(kind == "online",
                 np.where(u < m_moto_share[merchant], "moto", "ecommerce"),
                 np.where((u < 0.58) & (amount <= CONTACTLESS_LIMIT), "contactless", "pos")))

    # time of the event and age of the account
    day = rng.integers(0, DATA_DAYS, n)
    new_card = c_new[card]
    day = np.where(new_card,
                   np.minimum(DATA_DAYS - 1, c_open_day[card] + rng.exponential(25.0, n).astype(np.int64)),
                   day)
    hour_w = np.array([1, 0.6, 0.4, 0.3, 0.3, 0.5, 1.2, 2.5, 3.5, 4, 4.5, 5, 6, 5.5, 5, 5, 5.5, 6, 6.5, 6, 5, 4, 3, 1.8])
    hour = rng.choice(24, size=n, p=hour_w / hour_w.sum())
    ms_in_hour = rng.integers(0, 3_600_000, n)
    event_time = YEAR_START_MS + day * DAY_MS + hour * 3_600_000 + ms_in_hour
    account_age_days = np.where(new_card, day - c_open_day[card], c_age0[card] + day)

    # velocity
    burst = np.where(rng.random(n) < 0.05, rng.uniform(3.0, 8.0, n), 1.0)
    txn_count_24h = np.minimum(rng.poisson(c_rate[card] * burst), 80)
    gap_within_day = 86_400.0 * rng.beta(1.0, np.maximum(txn_count_24h, 1))
    gap_longer = 86_400.0 + rng.exponential(86_400.0 / np.minimum(c_rate[card], 1.0) * 1.5, n)
    seconds_since_last_txn = np.maximum(3, np.where(txn_count_24h > 0, gap_within_day, gap_longer)).astype(np.int64)

    # spending history
    noise = np.where(account_age_days < 30, 0.45, 0.12)
    avg_amount_30d = np.round(np.maximum(1.0, c_spend[card] * rng.lognormal(0.0, noise)), 2)

    # where the payment was made from: card present = the merchant; online = the device (IP)
    foreign_ip = rng.random(n) < 0.06
    ip_country = np.where(foreign_ip, rng.choice(countries, size=n, p=foreign_w / foreign_w.sum()), home)
    where = np.where((channel == "ecommerce"), ip_country, country)
    lat = np.array([COUNTRY_SPEC[c][0] for c in where]); lon = np.array([COUNTRY_SPEC[c][1] for c in where])
    hlat = np.array([COUNTRY_SPEC[c][0] for c in home]); hlon = np.array([COUNTRY_SPEC[c][1] for c in home])
    abroad_km = haversine_km(hlat, hlon, lat, lon) * rng.uniform(0.75, 1.25, n) + rng.exponential(40.0, n)
    local_km = rng.lognormal(math.log(7.0), 1.1, n)
    distance = np.where(where == home, np.minimum(local_km, 900.0), abroad_km)
    # moto: the cardholder is on the phone from wherever they are -> mostly home
    distance = np.where(channel == "moto", np.where(rng.random(n) < 0.85, local_km, abroad_km), distance)
    distance = np.round(distance, 1)

    merchant_risk_score = m_risk[merchant]
    card_type = c_type[card]

    # ---- fraud ------------------------------------------------------------------------
    ratio = np.log(amount / avg_amount_30d)
    z = (
        1.1 * np.clip(ratio, 0.0, 4.0) - 0.3 * np.clip(-ratio, 0.0, 3.0)
        + 0.55 * np.log1p(distance / 50.0)
        + np.array([CHANNEL_LOGODDS[c] for c in channel])
        + np.array([COUNTRY_SPEC[c][4] for c in country])
        + np.array([CATEGORY_SPEC[c][2] for c in cat])
        + np.array([CARD_TYPE_SPEC[t][1] for t in card_type])
        + np.where(account_age_days < 14, 1.5, np.where(account_age_days < 60, 0.8, 0.0))
        + 0.22 * np.minimum(txn_count_24h, 20)
        + np.where(seconds_since_last_txn < 120, 1.3, np.where(seconds_since_last_txn < 900, 0.6, 0.0))
        + 3.5 * merchant_risk_score
        + 0.6 * ((channel == "ecommerce") & (account_age_days < 60))
        + 0.8 * ((txn_count_24h >= 6) & (cat == "digital_goods"))
    )
    lo, hi = -30.0, 10.0  # intercept so that the expected fraud rate is TARGET_FRAUD_RATE
    for _ in range(80):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if sigmoid(z + mid).mean() < TARGET_FRAUD_RATE else (lo, mid)
    is_fraud = rng.random(n) < sigmoid(z + (lo + hi) / 2)

    # ---- fields the model does not use -------------------------------------------------
    card_present = np.isin(channel, ["pos", "contactless", "atm"])
    terminal_id = np.where(
        card_present,
        np.char.add(np.char.add(np.char.add("trm_", m_ids[merchant].astype("U")), "_"),
                    (rng.integers(0, 1_000, n) % m_terminals[merchant] + 1).astype("U")),
        None)
    currency = np.array([COUNTRY_SPEC[c][6] for c in country], dtype=object)
    recurring_p = np.where(np.isin(cat, ["digital_goods", "gaming"]), 0.30, 0.04)
    is_recurring = (~card_present) & (rng.random(n) < np.where(is_fraud, 0.01, recurring_p))
    ecom = channel == "ecommerce"
    own_browser = rng.random(n) < np.where(is_fraud, 0.15, 0.93)
    user_agent_hash = np.where(ecom, np.where(own_browser, c_ua[card], [rng.bytes(8).hex() for _ in range(n)]), None)
    ip_country_field = np.where(ecom, ip_country, None)
    event_id = [str(uuid.UUID(bytes=rng.bytes(16), version=4)) for _ in range(n)]
    if len(set(event_id)) != n:
        raise SystemExit("event_id collision")

    df = pd.DataFrame({
        "event_id": pd.Series(event_id, dtype=object),
        "event_time": event_time.astype(np.int64),
        "card_id": pd.Series(c_ids[card], dtype=object),
        "merchant_id": pd.Series(m_ids[merchant], dtype=object),
        "terminal_id": pd.Series(terminal_id, dtype=object),
        "currency": pd.Series(currency, dtype=object),
        "amount": amount.astype(np.float64),
        "merchant_category": pd.Series(cat, dtype=object),
        "channel": pd.Series(channel, dtype=object),
        "country": pd.Series(country, dtype=object),
        "card_type": pd.Series(card_type, dtype=object),
        "account_age_days": account_age_days.astype(np.int64),
        "txn_count_24h": txn_count_24h.astype(np.int64),
        "avg_amount_30d": avg_amount_30d.astype(np.float64),
        "distance_from_home_km": distance.astype(np.float64),
        "seconds_since_last_txn": seconds_since_last_txn.astype(np.int64),
        "merchant_risk_score": merchant_risk_score.astype(np.float64),
        "is_recurring": is_recurring.astype(bool),
        "ip_country": pd.Series(ip_country_field, dtype=object),
        "user_agent_hash": pd.Series(user_agent_hash, dtype=object),
    })
    df["is_fraud"] = is_fraud.astype(np.int64)  # ground truth, not an Avro field
    return df.sort_values("event_time", kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------------------
# Schema checks
# --------------------------------------------------------------------------------------

def to_event(row: dict, fields: list[str]) -> dict:
    """One row as a plain JSON/Avro-ready dict (native Python types, None for null)."""
    out = {}
    for f in fields:
        v = row[f]
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out[f] = None
        elif isinstance(v, (np.bool_, bool)):
            out[f] = bool(v)
        elif isinstance(v, (np.integer,)):
            out[f] = int(v)
        elif isinstance(v, (np.floating,)):
            out[f] = float(v)
        else:
            out[f] = v
    return out


def check_against_schema(schema: dict, events: list[dict]) -> None:
    import fastavro
    from fastavro.validation import validate_many

    parsed = fastavro.parse_schema(schema)
    validate_many(events, parsed, raise_errors=True)
    for e in events:  # fastavro accepts datetimes for timestamp-millis; we want plain ints
        if not isinstance(e["event_time"], int):
            raise SystemExit(f"event_time must be an int, got {e['event_time']!r}")
        for f in ("account_age_days", "txn_count_24h"):
            if not 0 <= e[f] <= INT32_MAX:
                raise SystemExit(f"{f} out of range: {e[f]}")
        if not 0.0 <= e["merchant_risk_score"] <= 1.0:
            raise SystemExit(f"merchant_risk_score out of range: {e['merchant_risk_score']}")


# --------------------------------------------------------------------------------------
# Model
# --------------------------------------------------------------------------------------

def model_frame(df: pd.DataFrame, inputs: list[str]) -> pd.DataFrame:
    """The model inputs as the model sees them: strings, and numerics through float32."""
    x = pd.DataFrame(index=df.index)
    for c in inputs:
        if c in NUMERIC:
            x[c] = df[c].to_numpy(dtype=np.float64).astype(np.float32).astype(np.float64)
        else:
            x[c] = df[c].astype(object)
    return x


def onnx_feeds(df: pd.DataFrame, inputs: list[str]) -> dict:
    feeds = {}
    for c in inputs:
        if c in NUMERIC:
            feeds[c] = df[c].to_numpy(dtype=np.float64).astype(np.float32).reshape(-1, 1)
        else:
            feeds[c] = df[c].to_numpy(dtype=object).reshape(-1, 1)
    return feeds


def describe_graph(model) -> tuple[list[str], list[str]]:
    """Node list (in graph order) and, per OneHotEncoder, the chain back to its graph input."""
    graph = model.graph
    producer = {}
    for node in graph.node:
        for o in node.output:
            producer[o] = node
    graph_inputs = {i.name for i in graph.input}
    nodes = [f"{i:2d} {n.op_type:<22} {n.domain or 'ai.onnx':<11} {n.name}  {list(n.input)} -> {list(n.output)}"
             for i, n in enumerate(graph.node)]
    paths = []
    for node in graph.node:
        if node.op_type != "OneHotEncoder":
            continue
        chain = [f"OneHotEncoder({node.name})"]
        tensor = node.input[0]
        while tensor not in graph_inputs:
            up = producer[tensor]
            chain.append(f"{up.op_type}({up.name})")
            tensor = up.input[0]
        chain.append(f"input '{tensor}'")
        cats = next(list(a.strings) for a in node.attribute if a.name == "cats_strings")
        paths.append(" <- ".join(chain) + f"   cats_strings={[c.decode() for c in cats]}")
    return nodes, paths


def histogram_profile(values: np.ndarray) -> dict:
    values = np.asarray(values, dtype=np.float64)
    edges = np.unique(np.quantile(values, np.linspace(0.1, 0.9, 9), method="lower"))
    idx = np.searchsorted(edges, values, side="left")  # bin i: edges[i-1] < v <= edges[i]
    counts = np.bincount(idx, minlength=len(edges) + 1)
    return {
        "type": "numeric",
        "count": int(values.size),
        "null_count": 0,
        "min": float(values.min()),
        "max": float(values.max()),
        "mean": float(values.mean()),
        "std": float(values.std()),
        "median": float(np.quantile(values, 0.5, method="lower")),
        "bin_edges": [float(e) for e in edges],
        "bin_counts": [int(c) for c in counts],
        "bin_shares": [float(c) / values.size for c in counts],
    }


# Score quantile bins: equal-width bins put 90 % of a fraud model's scores in the lowest bin, where
# PSI cannot see the tail that decides the alerts, so the tail gets bins of its own (95 %, 99 %).
SCORE_QUANTILES = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99]
# Decision thresholds the service can be asked to watch: 0.01 .. 0.99.
SCORE_THRESHOLDS = [round(t / 100, 2) for t in range(1, 100)]


def score_quantile_profile(scores: np.ndarray) -> dict:
    scores = np.asarray(scores, dtype=np.float64)
    edges = np.unique(np.quantile(scores, SCORE_QUANTILES, method="lower"))
    idx = np.searchsorted(edges, scores, side="left")  # as histogram_profile: upper-inclusive
    counts = np.bincount(idx, minlength=len(edges) + 1)
    return {
        "baseline_mean": float(scores.mean()),
        "std": float(scores.std()),
        "quantiles": {f"{q:g}": float(np.quantile(scores, q, method="lower")) for q in [0.5, 0.9, 0.99]},
        "quantile_bin_edges": [float(e) for e in edges],
        "quantile_bin_counts": [int(c) for c in counts],
        "quantile_bin_shares": [float(c) / scores.size for c in counts],
        "positive_rates": {f"{t:.2f}": float((scores >= t).mean()) for t in SCORE_THRESHOLDS},
    }


def write_sample(path: Path, frame: pd.DataFrame, inputs: list[str], scores: np.ndarray, seed: int, size: int) -> None:
    """Held-out events (model inputs only) and their scores: tests draw streams from them (the joint
    distribution of the training process, which a column-by-column draw from profile.json is not)."""
    rng = np.random.default_rng(seed + 2)
    rows = np.sort(rng.choice(len(frame), size=min(size, len(frame)), replace=False))
    part = frame.iloc[rows]
    values = []
    for k, record in enumerate(part[inputs].to_dict("records")):
        row = [record[c] if isinstance(record[c], str) else float(record[c]) for c in inputs]
        values.append(row + [round(float(scores[rows[k]]), 7)])
    sample = {
        "source": f"held-out test split of train.py --seed {seed}, {len(values)} random rows; score = onnxruntime p1",
        "columns": inputs + ["score"],
        "rows": values,
    }
    path.write_text(json.dumps(sample, separators=(",", ":")) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED,
                    help=f"seed of every random draw (default {DEFAULT_SEED}); also fixes trained_at")
    ap.add_argument("--rows", type=int, default=DEFAULT_ROWS, help=f"events to generate (default {DEFAULT_ROWS})")
    ap.add_argument("--out", type=Path, default=HERE, help="output folder (default: this script's folder)")
    args = ap.parse_args()
    t0 = time.perf_counter()

    import onnx
    import onnxruntime as ort
    import sklearn
    import skl2onnx
    from onnx import helper
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.metrics import average_precision_score, roc_auc_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    schema = json.loads(SCHEMA_PATH.read_text())
    fields = [f["name"] for f in schema["fields"]]
    inputs = [f for f in fields if f in CATEGORICAL or f in NUMERIC]  # graph inputs, in schema order
    assert sorted(inputs) == sorted(CATEGORICAL + NUMERIC), "model inputs must be Avro fields"

    # ---- data ---------------------------------------------------------------------------
    print(f"versions: scikit-learn {sklearn.__version__}, skl2onnx {skl2onnx.__version__}, onnx {onnx.__version__}, "
          f"onnxruntime {ort.__version__}, numpy {np.__version__}, pandas {pd.__version__}")
    df = make_dataset(args.seed, args.rows)
    assert list(df.columns[:-1]) == fields, "generated columns must be exactly the Avro fields"
    events = [to_event(r, fields) for r in df[fields].to_dict("records")]
    check_against_schema(schema, events)
    if df[inputs].isna().any().any():
        raise SystemExit("model inputs must not be null in the training data")
    y = df["is_fraud"].to_numpy()
    idx_train, idx_test = train_test_split(
        np.arange(len(df)), test_size=TEST_SHARE, stratify=y, random_state=args.seed % 2**32)
    idx_train.sort(); idx_test.sort()
    train, test = df.iloc[idx_train], df.iloc[idx_test]
    x_train = model_frame(train, inputs)
    t_data = time.perf_counter()

    # ---- model --------------------------------------------------------------------------
    classifier = GradientBoostingClassifier(
        n_estimators=100, max_depth=3, learning_rate=0.1, subsample=1.0, random_state=args.seed % 2**32)
    pipeline = Pipeline([
        ("features", ColumnTransformer(
            [("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False), CATEGORICAL),
             ("numeric", "passthrough", NUMERIC)],
            sparse_threshold=0.0)),
        ("classifier", classifier),
    ])
    pipeline.fit(x_train, train["is_fraud"].to_numpy())
    t_fit = time.perf_counter()

    initial_types = [(c, FloatTensorType([None, 1]) if c in NUMERIC else StringTensorType([None, 1])) for c in inputs]
    model = convert_sklearn(pipeline, name=MODEL_NAME, initial_types=initial_types,
                            options={id(classifier): {"zipmap": False}}, target_opset=TARGET_OPSET)
    # skl2onnx fills opset_import by iterating a Python set, so its order follows the string
    # hash seed (PYTHONHASHSEED) and changes between runs: sort it to get identical bytes.
    opsets = sorted((o.domain, o.version) for o in model.opset_import)
    del model.opset_import[:]
    for domain, version in opsets:
        model.opset_import.add(domain=domain, version=version)
    trained_at = trained_at_from_seed(args.seed)

    # scores: sklearn vs onnxruntime on every row (train + test)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    out_names = [o.name for o in sess.get_outputs()]
    if out_names != ["label", "probabilities"]:
        raise SystemExit(f"unexpected ONNX outputs {out_names}")
    label_all, proba_all = sess.run(None, onnx_feeds(df, inputs))
    proba_sk = pipeline.predict_proba(model_frame(df, inputs))
    diff = float(np.abs(proba_all.astype(np.float64) - proba_sk).max())
    # a label may legitimately flip when p1 sits within the tolerance of the 0.5 threshold
    label_mismatch = int(((label_all != pipeline.predict(model_frame(df, inputs)))
                          & (np.abs(proba_sk[:, 1] - 0.5) > TOLERANCE)).sum())
    print(f"max |onnx - sklearn| probability over {len(df)} rows: {diff:.3e} (tolerance {TOLERANCE:g}); "
          f"label mismatches: {label_mismatch}")
    if diff > TOLERANCE or label_mismatch:
        print(f"FAIL: ONNX and scikit-learn disagree: max abs probability difference {diff:.3e} > {TOLERANCE:g} "
              f"or {label_mismatch} label mismatches; nothing written", file=sys.stderr)
        return 1
    p1_test = proba_all[idx_test, 1]
    auc = float(roc_auc_score(test["is_fraud"], p1_test))
    ap_score = float(average_precision_score(test["is_fraud"], p1_test))

    meta = {
        "model_name": MODEL_NAME,
        "model_version": MODEL_VERSION,
        "trained_at": trained_at,
        "training_rows": str(len(train)),
        "features": ",".join(inputs),
        "positive_label": "1",
        "score_output": "probabilities",
        "label_output": "label",
        "training_seed": str(args.seed),
        "test_roc_auc": f"{auc:.4f}",
    }
    helper.set_model_props(model, meta)
    model.model_version = MODEL_VERSION_INT
    model.doc_string = (
        "Card payment fraud score (example model of stream-scorer). Inputs: one [N,1] tensor per feature, "
        "string for " + ", ".join(CATEGORICAL) + "; float for " + ", ".join(NUMERIC) + ". Outputs: label int64 [N] "
        "(1 = fraud), probabilities float [N,2] (column 1 = fraud score). Unknown categories are silently "
        "one-hot encoded as all zeros (handle_unknown=ignore): reject them before scoring. "
        f"Trained on {len(train)} synthetic events, seed {args.seed}, see models/card-fraud/README.md.")
    onnx.checker.check_model(model, full_check=True)

    # ---- graph checks -------------------------------------------------------------------
    encoders = {}
    for node in model.graph.node:
        if node.op_type == "OneHotEncoder":
            if node.domain != "ai.onnx.ml":
                raise SystemExit(f"OneHotEncoder {node.name} in domain {node.domain!r}")
            attrs = {a.name: a for a in node.attribute}
            encoders[node.name] = [s.decode() for s in attrs["cats_strings"].strings]
    nodes, paths = describe_graph(model)
    known = pipeline.named_steps["features"].named_transformers_["categorical"].categories_
    expected_cats = {c: list(k) for c, k in zip(CATEGORICAL, known)}
    if sorted(map(tuple, encoders.values())) != sorted(tuple(v) for v in expected_cats.values()):
        raise SystemExit(f"OneHotEncoder cats_strings {encoders} do not match sklearn {expected_cats}")

    # ---- artifacts ----------------------------------------------------------------------
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    (out / "model.onnx").write_bytes(model.SerializeToString())

    # reference: the top-scored test events (so label=1 appears), some actual frauds, and a random sample
    rng = np.random.default_rng(args.seed + 1)
    pos_test = np.arange(len(idx_test))
    top = pos_test[np.argsort(-p1_test, kind="stable")[:30]]
    frauds = rng.choice(pos_test[test["is_fraud"].to_numpy() == 1], size=20, replace=False)
    chosen = set(top.tolist()) | set(frauds.tolist())
    rest = rng.permutation(np.setdiff1d(pos_test, np.fromiter(chosen, dtype=np.int64)))
    chosen |= set(rest[: REFERENCE_EVENTS - len(chosen)].tolist())
    ref_rows = idx_test[sorted(chosen)]
    ref_df = df.iloc[ref_rows]
    ref_label, ref_proba = sess.run(None, onnx_feeds(ref_df, inputs))
    ref_events = [to_event(r, fields) for r in ref_df[fields].to_dict("records")]
    reference = {
        "model": MODEL_NAME,
        "model_version": MODEL_VERSION,
        "tolerance": TOLERANCE,
        "generated_by": f"models/card-fraud/train.py --seed {args.seed}, onnxruntime {ort.__version__} (Python)",
        "events": [
            {"event": e, "probabilities": [float(p[0]), float(p[1])], "label": int(l), "is_fraud": int(f)}
            for e, p, l, f in zip(ref_events, ref_proba, ref_label, ref_df["is_fraud"])
        ],
    }
    (out / "reference.json").write_text(json.dumps(reference, indent=1) + "\n")

    # profile of the training split
    feat_profiles = {}
    for c in inputs:
        if c in CATEGORICAL:
            vc = train[c].value_counts()
            cats = expected_cats[c]
            feat_profiles[c] = {
                "type": "categorical",
                "count": int(len(train)),
                "null_count": 0,
                "categories": {k: {"count": int(vc.get(k, 0)), "share": float(vc.get(k, 0)) / len(train)} for k in cats},
            }
        else:
            feat_profiles[c] = histogram_profile(train[c].to_numpy(dtype=np.float64))
    p1_train = proba_all[idx_train, 1].astype(np.float64)
    score_edges = np.linspace(0.0, 1.0, 11)
    score_idx = np.minimum((p1_train * 10).astype(np.int64), 9)  # [i/10, (i+1)/10), 1.0 in the last bin
    score_counts = np.bincount(score_idx, minlength=10)
    profile = {
        "model": MODEL_NAME,
        "model_version": MODEL_VERSION,
        "trained_at": trained_at,
        "rows": int(len(train)),
        "source": "training split of the synthetic data set (train.py)",
        "binning": {
            "numeric": "bin_edges are the deduplicated 10%..90% quantiles (method=lower, so observed values) of the raw "
                       "training values (doubles, as in the Avro event); len(bin_edges)+1 bins; bin 0 holds v <= bin_edges[0], bin i holds "
                       "bin_edges[i-1] < v <= bin_edges[i], the last bin holds v > bin_edges[-1].",
            "categorical": "share of training rows per known category (categories as the encoder knows them); "
                           "any other value is unknown to the model.",
            "prediction": "p1 = probabilities[:, 1]; 10 equal-width bins, bin i holds i/10 <= p1 < (i+1)/10, "
                          "p1 = 1.0 falls in the last bin. quantile_bin_edges: the deduplicated 10%..90%, 95% and 99% "
                          "quantiles of p1 (method=lower), binned like numeric features (upper-inclusive); "
                          "positive_rates: share of rows with p1 >= each threshold. baseline_mean, std, quantiles, quantile_bin_* and "
                          "positive_rates are computed on the held-out test split (baseline_split), the rest on the training split.",
        },
        "features": feat_profiles,
        "prediction": {
            "output": "probabilities",
            "column": 1,
            "count": int(len(train)),
            "mean": float(p1_train.mean()),
            "label_1_share": float((label_all[idx_train] == 1).mean()),
            "bin_edges": [round(float(e), 1) for e in score_edges],
            "bin_counts": [int(c) for c in score_counts],
            "bin_shares": [float(c) / len(train) for c in score_counts],
            # The baselines of the score monitoring come from the held-out split: live events are
            # events the model did not train on, and it scores its own training rows a little
            # higher (share >= 0.5: 1.39 % on training rows, 1.29 % held out), which read as a
            # 7 % drop in every live window.
            "baseline_split": "test",
            "baseline_count": int(len(idx_test)),
            **score_quantile_profile(p1_test.astype(np.float64)),
        },
        "target": {"fraud_rate": float(train["is_fraud"].mean())},
    }
    (out / "profile.json").write_text(json.dumps(profile, indent=1) + "\n")
    write_sample(out / "sample.json", test, inputs, p1_test, args.seed, SAMPLE_ROWS)

    # ---- report -------------------------------------------------------------------------
    print(f"seed {args.seed}, trained_at {trained_at}")
    print(f"rows {len(df)} (train {len(train)}, test {len(test)}), fraud rate {y.mean():.4f} "
          f"(train {train['is_fraud'].mean():.4f}, test {test['is_fraud'].mean():.4f})")
    print(f"test ROC AUC {auc:.4f}, average precision {ap_score:.4f}, "
          f"predicted label=1 on test {int((label_all[idx_test] == 1).sum())}")
    print(f"reference events: {len(ref_events)} (label=1: {int((ref_label == 1).sum())}, "
          f"actual fraud: {int(ref_df['is_fraud'].sum())})")
    print("graph inputs: " + ", ".join(f"{i.name}:{'string' if i.type.tensor_type.elem_type == 8 else 'float'}"
                                       for i in model.graph.input))
    print("graph outputs: " + ", ".join(o.name for o in model.graph.output))
    print("nodes:")
    for line in nodes:
        print("  " + line)
    print("OneHotEncoder -> graph input:")
    for line in paths:
        print("  " + line)
    print(f"data {t_data - t0:.1f}s, fit {t_fit - t_data:.1f}s, total {time.perf_counter() - t0:.1f}s; wrote {out}/model.onnx, reference.json, profile.json, sample.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
