"""
The benchmark's independent Python peer of stream-scorer, as a good engineer would write it
instead: confluent-kafka (librdkafka) + fastavro + onnxruntime, batched.

Per consumed batch (consume(num_messages=5000)): decode every value with fastavro's
schemaless_reader (schemas/payment-event.avsc), check every model input as stream-scorer's
contract check does (missing/null, type, NaN/±Infinity, float32 range, categories the graph's
OneHotEncoders know, in graph input order: the first failing input is the reason), score the
valid events with one InferenceSession.run (1 intra-op thread, one [N, 1] tensor per graph input),
encode predictions (schemas/prediction.avsc) and produce them with the input's key, the trace
context passed on and the model's name/version headers; dead letters go to the dead-letter topic
with the original key, bytes, timestamp and headers plus stream-scorer's scorer.* reason and source
headers. The producer is idempotent (acks=all); a batch's offsets are committed once every record
produced for it is acknowledged (common.Deliveries).

Not done (no bearing on the benchmark's input): stream-scorer's decode bounds for huge values, its
leave-out steps for dead letters over the topic's size limit, exactly-once, model reloads, metrics.

Run by bench/bench.ts (python-peer row); `python peer.py --selftest` prints the contract it derives.
"""

import io
import json
import math
import os
import re
import sys
import time
from datetime import datetime, timezone

import numpy as np
import onnxruntime as ort
from confluent_kafka import Producer
from fastavro import parse_schema, schemaless_reader, schemaless_writer

from common import Row, run
from onnx_graph import read_graph

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
MODEL_PATH = os.environ.get("MODEL_PATH", os.path.join(ROOT, "models/card-fraud/model.onnx"))
INPUT_SCHEMA = os.path.join(ROOT, "schemas/payment-event.avsc")
PREDICTION_SCHEMA = os.path.join(ROOT, "schemas/prediction.avsc")

FLOAT32_MAX = 3.4028234663852886e38
MAX_VALUE_CHARS = 200
MAX_MESSAGE_CHARS = 1000
STAGE = {
    "EMPTY_VALUE": "decode", "UNDECODABLE_AVRO": "decode", "MISSING_FIELD": "check", "UNKNOWN_CATEGORY": "check",
    "WRONG_TYPE": "check", "NON_FINITE_NUMBER": "check", "OUT_OF_RANGE": "check", "MODEL_ERROR": "score",
    "NON_FINITE_SCORE": "score", "ENCODE_FAILED": "encode",
}
# As @opentelemetry/core's W3C propagator (and stream-scorer's trace forwarding) accepts it.
TRACEPARENT = re.compile(r"^\s?(?!ff)[\da-f]{2}-(?![0]{32})[\da-f]{32}-(?![0]{16})[\da-f]{16}-[\da-f]{2}(-.*)?\s?$")


def without_logical_types(schema):
    """The schema with logicalType dropped: timestamps stay epoch-millisecond ints both ways."""
    if isinstance(schema, dict):
        return {k: without_logical_types(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [without_logical_types(s) for s in schema]
    return schema


def load_schema(path: str):
    with open(path) as f:
        return parse_schema(without_logical_types(json.load(f)))


def js_number(x) -> str:
    """String(x) as JavaScript writes a number (the rendering in dead-letter headers)."""
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, int):
        return str(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    mantissa, _, exp = repr(abs(x)).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0") or "0"
    lead = len(whole) - (len(whole + frac) - len((whole + frac).lstrip("0")))
    n = lead + (int(exp) if exp else 0)  # value = 0.digits × 10^n
    digits = digits.rstrip("0") or "0"
    k = len(digits)
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    e = n - 1
    return sign + digits[0] + ("." + digits[1:] if k > 1 else "") + "e" + ("+" if e >= 0 else "-") + str(abs(e))


def cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def render(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return cap(value, MAX_VALUE_CHARS)
    if isinstance(value, (int, float)):
        return cap(js_number(value), MAX_VALUE_CHARS)
    return cap(json.dumps(value), MAX_VALUE_CHARS)


def rejection(code: str, message: str, field=None, value=None, has_value=False) -> dict:
    r = {"code": code, "stage": STAGE[code], "message": cap(message, MAX_MESSAGE_CHARS)}
    if field is not None:
        r["field"] = field
    if field is not None or has_value:
        r["value"] = render(value)
    return r


class Contract:
    """The model's inputs in graph order, with their element type and known categories."""

    def __init__(self, session: ort.InferenceSession, model_path: str) -> None:
        categories, classes = read_graph(model_path)
        meta = session.get_modelmeta().custom_metadata_map
        self.name = meta.get("model_name") or os.path.splitext(os.path.basename(model_path))[0]
        self.version = meta.get("model_version") or str(session.get_modelmeta().version)
        self.inputs = []
        for i in session.get_inputs():
            element = {"tensor(float)": "float", "tensor(string)": "string"}.get(i.type)
            if element is None or len(i.shape) != 2 or i.shape[1] != 1:
                raise SystemExit(f"peer: input {i.name} is {i.type} {i.shape}; this peer feeds [N, 1] float and string inputs")
            self.inputs.append((i.name, element, categories.get(i.name) if element == "string" else None))
        self.score_output = meta.get("score_output", "probabilities")
        self.label_output = meta.get("label_output", "label")
        self.classes = classes
        self.positive = classes.index(meta.get("positive_label", classes[-1]))

    def check(self, event: dict):
        """The first reason the event cannot be scored honestly, or None (contract-check.ts checkColumn)."""
        for name, element, known in self.inputs:
            value = event.get(name)
            if value is None:
                return rejection("MISSING_FIELD", f'required model input "{name}" is {"null" if name in event else "absent"}', name, value)
            if element == "string":
                if not isinstance(value, str):
                    return rejection("WRONG_TYPE", f'model input "{name}" must be a string category, got {type(value).__name__}', name, value)
                if known is not None and value not in known:
                    return rejection("UNKNOWN_CATEGORY", f'"{render(value)}" is not a category the model knows for "{name}" ({len(known)} known, from OneHotEncoder)', name, value)
                continue
            if not isinstance(value, (int, float)):
                return rejection("WRONG_TYPE", f'model input "{name}" must be a number, got {type(value).__name__}', name, value)
            if isinstance(value, float) and not math.isfinite(value):
                return rejection("NON_FINITE_NUMBER", f'model input "{name}" is {js_number(value)}', name, value)
            if abs(value) > FLOAT32_MAX:
                return rejection("OUT_OF_RANGE", f"model input \"{name}\" overflows the model's float32 input", name, value)
        return None


def header_values(headers, name: str) -> list:
    return [v for k, v in headers if k == name]


def new_traceparent() -> str:
    ids = bytearray(os.urandom(24))
    ids[15] |= 1
    ids[23] |= 1
    return f"00-{ids[:16].hex()}-{ids[16:].hex()}-00"


def forward_trace(headers) -> list:
    """The trace headers of an output written for an input with `headers` (trace-forwarding.ts)."""
    parents = header_values(headers, "traceparent")
    parent = parents[0] if len(parents) == 1 else None
    if parent is not None and len(parent) <= 512 and TRACEPARENT.match(parent.decode("latin-1")):
        states = header_values(headers, "tracestate")
        if len(states) != 1 or (states[0] is not None and len(states[0]) > 512):
            return [("traceparent", parent)]
        return [("traceparent", parent), ("tracestate", states[0])]
    return [("traceparent", new_traceparent().encode())]


class Peer:
    def __init__(self, row: Row) -> None:
        self.row = row
        spec = row.spec
        self.output, self.dead_letter, self.group = spec["output"], spec["deadLetter"], spec["group"]
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self.session = ort.InferenceSession(MODEL_PATH, options, providers=["CPUExecutionProvider"])
        self.contract = Contract(self.session, MODEL_PATH)
        self.input_schema = load_schema(INPUT_SCHEMA)
        self.input_name = self.input_schema["name"]
        self.prediction_schema = load_schema(PREDICTION_SCHEMA)
        self.model_headers = [("scorer.model.name", self.contract.name.encode()), ("scorer.model.version", self.contract.version.encode())]

    def decode(self, value):
        if not value:
            return None, rejection("EMPTY_VALUE", "record value is empty; expected an Avro-encoded event")
        reader = io.BytesIO(value)
        try:
            event = schemaless_reader(reader, self.input_schema, None, handle_unicode_errors="replace")
        except EOFError:
            return None, rejection("UNDECODABLE_AVRO", f"truncated buffer: {len(value)} bytes is less than the schema needs")
        except Exception as error:  # noqa: BLE001 - any reader error means the bytes are not an event
            return None, rejection("UNDECODABLE_AVRO", f"invalid Avro for {self.input_name}: {type(error).__name__}: {error}")
        end = reader.tell()
        if end != len(value):
            return None, rejection("UNDECODABLE_AVRO", f"trailing data: {len(value) - end} bytes after the event (Confluent framing? then INPUT_FORMAT=confluent; or a different schema)")
        return event, None

    def score(self, events: list):
        n = len(events)
        feeds = {}
        for name, element, _ in self.contract.inputs:
            column = [e[name] for e in events]
            feeds[name] = np.array(column, dtype=np.float32 if element == "float" else object).reshape(n, 1)
        probabilities, labels = self.session.run([self.contract.score_output, self.contract.label_output], feeds)
        return probabilities.astype(np.float64).tolist(), labels.tolist()

    def dead_letter_record(self, msg, reason: dict, failed_at: int):
        headers = list(msg.headers() or [])
        for name, value in forward_trace(headers):
            if value is not None:
                headers.append(("scorer." + name, value))
        headers.append(("scorer.reason.code", reason["code"].encode()))
        headers.append(("scorer.reason.stage", reason["stage"].encode()))
        if "field" in reason:
            headers.append(("scorer.reason.field", reason["field"].encode()))
        if "value" in reason:
            headers.append(("scorer.reason.value", reason["value"].encode()))
        headers.append(("scorer.reason.message", reason["message"].encode()))
        headers.append(("scorer.source.topic", msg.topic().encode()))
        headers.append(("scorer.source.partition", str(msg.partition()).encode()))
        headers.append(("scorer.source.offset", str(msg.offset()).encode()))
        headers.append(("scorer.source.timestamp", str(msg.timestamp()[1]).encode()))
        headers.append(("scorer.consumer.group", self.group.encode()))
        headers.extend(self.model_headers)
        at = datetime.fromtimestamp(failed_at / 1000, tz=timezone.utc)
        headers.append(("scorer.failed.at", (at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{failed_at % 1000:03d}Z").encode()))
        return headers

    def process(self, messages: list, producer: Producer, delivered) -> int:
        """Decodes, checks, scores and produces one batch; returns the number of records produced."""
        reasons = [None] * len(messages)
        valid_index, valid_events = [], []
        for i, msg in enumerate(messages):
            event, reason = self.decode(msg.value())
            if reason is None:
                reason = self.contract.check(event)
            if reason is None:
                valid_index.append(i)
                valid_events.append(event)
            else:
                reasons[i] = reason
        now = int(time.time() * 1000)
        if valid_events:
            probabilities, labels = self.score(valid_events)
            contract = self.contract
            buffer = io.BytesIO()
            for r, i in enumerate(valid_index):
                msg, event = messages[i], valid_events[r]
                score = probabilities[r][contract.positive]
                if not math.isfinite(score):
                    reasons[i] = rejection("NON_FINITE_SCORE", f"the model returned {js_number(score)} for class {contract.classes[contract.positive]}", contract.score_output, score)
                    continue
                event_time = event.get("event_time")
                buffer.seek(0)
                buffer.truncate()
                schemaless_writer(buffer, self.prediction_schema, {
                    "event_id": event["event_id"],
                    "event_time": event_time if isinstance(event_time, int) else None,
                    "score": score,
                    "probabilities": probabilities[r],
                    "classes": contract.classes,
                    "label": str(labels[r]),
                    "flags": [],
                    "model_name": contract.name,
                    "model_version": contract.version,
                    "scored_at": now,
                    "source": {"topic": msg.topic(), "partition": msg.partition(), "offset": msg.offset()},
                })
                headers = forward_trace(msg.headers() or [])
                headers.extend(self.model_headers)
                self.produce(producer, self.output, msg.key(), buffer.getvalue(), headers, None, delivered)
        for i, reason in enumerate(reasons):
            if reason is not None:
                msg = messages[i]
                self.produce(producer, self.dead_letter, msg.key(), msg.value(), self.dead_letter_record(msg, reason, now), msg.timestamp()[1], delivered)
        return len(messages)

    @staticmethod
    def produce(producer: Producer, topic: str, key, value, headers, timestamp, delivered) -> None:
        extra = {"timestamp": timestamp} if timestamp is not None else {}
        while True:
            try:
                producer.produce(topic, value=value, key=key, headers=headers, on_delivery=delivered, **extra)
                return
            except BufferError:  # the local queue is full: serve deliveries, then again
                producer.poll(0.05)


def main() -> None:
    if "--selftest" in sys.argv:
        session = ort.InferenceSession(MODEL_PATH)
        contract = Contract(session, MODEL_PATH)
        print(json.dumps({"name": contract.name, "version": contract.version, "classes": contract.classes, "positive": contract.positive,
                          "inputs": [[n, e, sorted(k) if k else None] for n, e, k in contract.inputs]}, indent=1))
        return
    row = Row()
    peer = Peer(row)
    run(row, peer.process)


if __name__ == "__main__":
    main()
