#!/usr/bin/env python3
"""Independent reader/writer of the Confluent wire format, for the integration tests.

The Node service frames Avro as magic byte 0 + 4-byte big-endian schema id + Avro binary body. This
tool writes and reads that framing with other people's code: confluent-kafka (librdkafka) for Kafka,
confluent_kafka.schema_registry's AvroSerializer / AvroDeserializer (fastavro) for the serde and the
registry. Run it with the venv python that scripts/python-check-env.sh prints.

  produce --brokers B --registry URL --topic T --schema FILE.avsc --subject S
          [--auto-register true|false] [--key-field NAME] [--partitions N] [--timeout-s 60] < events.jsonl
      One JSON object per line: the Avro value itself, or an envelope {"key": "...", "value": {...}}
      (an object whose only members are "key" and "value", "value" an object). Serialised with
      AvroSerializer under subject S (a subject.name.strategy callable that returns S), produced with
      acks=all and flushed. Prints {"produced": n, "schema_id": id, "subject": S, "topic": T}.
      --auto-register false looks the schema up under S instead of registering it (it must be there).
      --key-field NAME: the key of a line without an envelope key is str(value[NAME]).
      --partitions N: create T with N partitions if it does not exist (the repo's broker does not
      auto-create topics); without it a missing topic is an error.

  consume --brokers B --registry URL --topic T --count N [--timeout-s 60] [--settle-s 0]
          [--framing confluent|plain] [--schema FILE.avsc]
      Reads N records from the beginning of T (fresh random group id, auto.offset.reset=earliest,
      isolation.level=read_committed), one JSON line each on stdout:
        {"partition": p, "offset": o, "key": "...", "schema_id": id|null, "value": {...},
         "timestamp": ms, "headers": [[name, value], ...]}
      framing confluent (default): the first byte must be 0; the value is decoded by AvroDeserializer,
        which fetches the writer schema by the id in bytes 1-4 from the registry (with --schema, that
        schema is the reader schema and the writer's is resolved to it).
      framing plain: the value is bare Avro, read with fastavro.schemaless_reader and --schema.
      Either way the body must be consumed exactly: bytes left after the Avro datum are an error.
      --settle-s S: after N records keep reading S seconds more; any further record is an error.

JSON conventions, both ways (the Avro values of the schema, in plain JSON):
  long / int: numbers; null: null; union values: the plain value of the branch (no {"type": v}
  wrapper); bytes and fixed: base64 strings; float/double NaN and infinities: the strings "NaN",
  "Infinity", "-Infinity"; logical types as their underlying Avro value: timestamp-*/local-timestamp-*
  epoch numbers in the schema's unit, date days since 1970-01-01, time-* millis/micros since
  midnight, uuid a string, decimal a decimal string (consume) or string/number (produce).
  Keys are UTF-8 strings (a key that is not UTF-8 is printed as null with "key_base64").
  Header values are UTF-8 strings, or {"base64": "..."} when they are not UTF-8.

Exit status: 0 ok; 1 Kafka or registry trouble, a delivery failure, fewer than N records in time (or
more than N within --settle-s); 2 usage or unreadable input (bad JSON line, missing file);
3 a value that does not serialise (produce: which line, and why) or does not deserialise (consume:
which partition/offset, and why; the records that did deserialise are still printed).
"""
from __future__ import annotations

import argparse
import base64
import datetime as dt
import decimal
import io
import json
import math
import os
import struct
import sys
import time
import uuid
from typing import Any, Dict, List, Optional, Tuple

try:
    import fastavro
    import fastavro.validation
    from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
    from confluent_kafka.admin import AdminClient, NewTopic
    from confluent_kafka.schema_registry import SchemaRegistryClient, prefix_schema_id_deserializer
    from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext
except ImportError as e:  # pragma: no cover - depends on the interpreter
    sys.stderr.write(
        f"confluent_check: {e}\n"
        "confluent_check: run it with the venv python that scripts/python-check-env.sh prints\n"
    )
    sys.exit(2)

PROG = "confluent_check"
MAGIC_BYTE = 0

EXIT_KAFKA = 1
EXIT_USAGE = 2
EXIT_SERDE = 3


class Fail(Exception):
    """A failure with its exit status; main() prints the message on stderr."""

    def __init__(self, message: str, status: int = EXIT_KAFKA):
        super().__init__(message)
        self.status = status


def warn(message: str) -> None:
    sys.stderr.write(f"{PROG}: {message}\n")
    sys.stderr.flush()


# ---------------------------------------------------------------- schemas

NamedSchemas = Dict[str, Any]


def parse_schema_text(text: str, named: NamedSchemas, origin: str) -> Any:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise Fail(f"{origin} is not JSON: {e}", EXIT_USAGE) from e
    try:
        # named is filled with every named type (full names), for the JSON walkers below
        return fastavro.parse_schema(raw, named_schemas=named)
    except Exception as e:  # fastavro raises several kinds (SchemaParseException, UnknownType, ...)
        raise Fail(f"{origin} is not a valid Avro schema: {e}", EXIT_USAGE) from e


def read_schema_file(path: str) -> Tuple[str, Any, NamedSchemas]:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise Fail(f"cannot read schema {path}: {e}", EXIT_USAGE) from e
    named: NamedSchemas = {}
    return text, parse_schema_text(text, named, path), named


def resolve(schema: Any, named: NamedSchemas) -> Any:
    while isinstance(schema, str) and schema in named:
        schema = named[schema]
    return schema


def type_of(schema: Any) -> Tuple[str, Optional[str]]:
    """(Avro type, logical type) of a resolved schema; a union is ("union", None)."""
    if isinstance(schema, list):
        return "union", None
    if isinstance(schema, dict):
        return schema["type"] if isinstance(schema["type"], str) else "union", schema.get("logicalType")
    return schema, None


EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
EPOCH_NAIVE = dt.datetime(1970, 1, 1)
UNIT = {"millis": dt.timedelta(milliseconds=1), "micros": dt.timedelta(microseconds=1)}


def _time_since_midnight(t: dt.time, unit: str) -> int:
    us = ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond
    return us // 1000 if unit == "millis" else us


def _float_to_json(v: float) -> Any:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return v


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def _matches_decoded(value: Any, schema: Any, named: NamedSchemas) -> bool:
    """Whether fastavro could have returned value for this (resolved) union branch."""
    schema = resolve(schema, named)
    t, lt = type_of(schema)
    if t == "null":
        return value is None
    if t == "boolean":
        return isinstance(value, bool)
    if t in ("int", "long"):
        if lt == "date":
            return isinstance(value, dt.date) and not isinstance(value, dt.datetime)
        if lt in ("time-millis", "time-micros"):
            return isinstance(value, dt.time)
        if lt and "timestamp" in lt and isinstance(value, dt.datetime):
            return True
        return isinstance(value, int) and not isinstance(value, bool)
    if t in ("float", "double"):
        return isinstance(value, float)
    if t == "string":
        return isinstance(value, str) or (lt == "uuid" and isinstance(value, uuid.UUID))
    if t == "bytes":
        return isinstance(value, bytes) or (lt == "decimal" and isinstance(value, decimal.Decimal))
    if t == "fixed":
        return (isinstance(value, bytes) and len(value) == schema["size"]) or (
            lt == "decimal" and isinstance(value, decimal.Decimal)
        )
    if t == "enum":
        return isinstance(value, str) and value in schema["symbols"]
    if t == "array":
        return isinstance(value, list)
    if t == "map":
        return isinstance(value, dict)
    if t == "record":
        return isinstance(value, dict) and set(value) == {f["name"] for f in schema["fields"]}
    return False


def to_json(value: Any, schema: Any, named: NamedSchemas) -> Any:
    """A value as fastavro decoded it -> JSON-safe, schema-directed (see the module doc)."""
    schema = resolve(schema, named)
    t, lt = type_of(schema)
    if t == "union":
        branches = schema if isinstance(schema, list) else schema["type"]
        for b in branches:
            if _matches_decoded(value, b, named):
                return to_json(value, b, named)
        return _fallback_json(value)
    if value is None:
        return None
    if t == "record":
        return {f["name"]: to_json(value.get(f["name"]), f["type"], named) for f in schema["fields"]}
    if t == "array":
        return [to_json(v, schema["items"], named) for v in value]
    if t == "map":
        return {k: to_json(v, schema["values"], named) for k, v in value.items()}
    if isinstance(value, dt.datetime):
        unit = UNIT["micros" if lt and lt.endswith("micros") else "millis"]
        base = EPOCH if value.tzinfo is not None else EPOCH_NAIVE
        return (value - base) // unit
    if isinstance(value, dt.date):
        return (value - dt.date(1970, 1, 1)).days
    if isinstance(value, dt.time):
        return _time_since_midnight(value, "micros" if lt == "time-micros" else "millis")
    return _fallback_json(value)


def _fallback_json(value: Any) -> Any:
    if isinstance(value, float):
        return _float_to_json(value)
    if isinstance(value, (bytes, bytearray)):
        return _b64(bytes(value))
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _fallback_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_fallback_json(v) for v in value]
    return value


_FLOAT_WORDS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _accepts_json(value: Any, schema: Any, named: NamedSchemas) -> bool:
    """Whether a plain JSON value belongs to this (resolved) union branch."""
    schema = resolve(schema, named)
    t, lt = type_of(schema)
    if t == "null":
        return value is None
    if t == "boolean":
        return isinstance(value, bool)
    if t in ("int", "long"):
        return isinstance(value, int) and not isinstance(value, bool)
    if t in ("float", "double"):
        return (isinstance(value, (int, float)) and not isinstance(value, bool)) or value in _FLOAT_WORDS
    if t == "string":
        return isinstance(value, str)
    if t == "enum":
        return isinstance(value, str) and value in schema["symbols"]
    if t in ("bytes", "fixed"):
        if lt == "decimal":
            return isinstance(value, (str, int, float)) and not isinstance(value, bool)
        return isinstance(value, str)
    if t == "array":
        return isinstance(value, list)
    if t == "map":
        return isinstance(value, dict)
    if t == "record":
        return isinstance(value, dict) and set(value) <= {f["name"] for f in schema["fields"]}
    return False


def from_json(value: Any, schema: Any, named: NamedSchemas) -> Any:
    """A JSON value -> what fastavro writes for this schema. Only bytes/fixed (base64), decimals and the
    float words change; anything else passes through, so fastavro reports what does not fit."""
    schema = resolve(schema, named)
    t, lt = type_of(schema)
    if t == "union":
        branches = schema if isinstance(schema, list) else schema["type"]
        for b in branches:
            if _accepts_json(value, b, named):
                return from_json(value, b, named)
        return value
    if value is None:
        return None
    if t == "record" and isinstance(value, dict):
        fields = {f["name"]: f["type"] for f in schema["fields"]}
        return {k: (from_json(v, fields[k], named) if k in fields else v) for k, v in value.items()}
    if t == "array" and isinstance(value, list):
        return [from_json(v, schema["items"], named) for v in value]
    if t == "map" and isinstance(value, dict):
        return {k: from_json(v, schema["values"], named) for k, v in value.items()}
    if t in ("float", "double") and isinstance(value, str) and value in _FLOAT_WORDS:
        return _FLOAT_WORDS[value]
    if t in ("bytes", "fixed"):
        if lt == "decimal" and isinstance(value, (str, int, float)) and not isinstance(value, bool):
            try:
                return decimal.Decimal(str(value))
            except decimal.InvalidOperation:
                return value
        if isinstance(value, str):
            try:
                return base64.b64decode(value, validate=True)
            except ValueError:
                return value
    return value


# ---------------------------------------------------------------- kafka helpers

def registry_client(url: str) -> SchemaRegistryClient:
    return SchemaRegistryClient({"url": url})


def ensure_topic(brokers: str, topic: str, partitions: Optional[int], timeout_s: float) -> None:
    admin = AdminClient({"bootstrap.servers": brokers})
    try:
        md = admin.list_topics(topic=topic, timeout=timeout_s)
    except KafkaException as e:
        raise Fail(f"cannot read metadata from {brokers}: {e}") from e
    tm = md.topics.get(topic)
    exists = tm is not None and tm.error is None and len(tm.partitions) > 0
    if exists:
        return
    if partitions is None:
        why = tm.error if tm is not None and tm.error is not None else "no such topic"
        raise Fail(f"topic {topic} does not exist on {brokers} ({why}); create it first, or pass --partitions N")
    futures = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)],
                                  operation_timeout=timeout_s, request_timeout=timeout_s)
    try:
        futures[topic].result(timeout=timeout_s)
        warn(f"created topic {topic} ({partitions} partitions)")
    except KafkaException as e:
        if e.args and e.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
            return
        raise Fail(f"cannot create topic {topic}: {e}") from e
    # wait until the leaders are known, so that the first produce does not race the creation
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        tm = admin.list_topics(topic=topic, timeout=timeout_s).topics.get(topic)
        if tm is not None and tm.error is None and tm.partitions and all(p.leader >= 0 for p in tm.partitions.values()):
            return
        time.sleep(0.2)
    raise Fail(f"topic {topic} was created but has no leaders after {timeout_s:g} s")


def parse_bool(text: str) -> bool:
    v = text.strip().lower()
    if v in ("true", "1", "yes"):
        return True
    if v in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def framed_schema_id(data: bytes) -> int:
    """The schema id of a Confluent-framed value; raises ValueError naming what is wrong."""
    if len(data) < 5:
        raise ValueError(f"{len(data)} bytes: too short for the 5-byte Confluent header")
    if data[0] != MAGIC_BYTE:
        raise ValueError(f"magic byte is {data[0]}, expected {MAGIC_BYTE}: not Confluent-framed")
    return struct.unpack(">I", data[1:5])[0]


def read_exactly(body: bytes, writer: Any, reader: Any = None) -> Any:
    """fastavro.schemaless_reader over the whole body: left-over bytes are an error."""
    fo = io.BytesIO(body)
    value = fastavro.schemaless_reader(fo, writer, reader)
    if fo.tell() != len(body):
        raise ValueError(f"{len(body) - fo.tell()} byte(s) left after the Avro datum "
                         f"(datum is {fo.tell()} of {len(body)} bytes)")
    return value


# ---------------------------------------------------------------- produce

def read_events(stream, key_field: Optional[str]) -> List[Tuple[int, Optional[str], Any]]:
    events = []
    for lineno, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise Fail(f"stdin line {lineno}: not JSON: {e}", EXIT_USAGE) from e
        if not isinstance(obj, dict):
            raise Fail(f"stdin line {lineno}: expected a JSON object, got {type(obj).__name__}", EXIT_USAGE)
        if "value" in obj and set(obj) <= {"key", "value"} and isinstance(obj["value"], dict):
            key, value = obj.get("key"), obj["value"]
        else:
            key, value = None, obj
        if key is None and key_field is not None:
            if key_field not in value:
                raise Fail(f"stdin line {lineno}: no field {key_field!r} for --key-field", EXIT_USAGE)
            key = value[key_field]
        if key is not None and not isinstance(key, str):
            key = json.dumps(key) if isinstance(key, (dict, list)) else str(key)
        events.append((lineno, key, value))
    return events


def cmd_produce(args: argparse.Namespace) -> int:
    schema_text, parsed, named = read_schema_file(args.schema)
    events = read_events(sys.stdin, args.key_field)
    ensure_topic(args.brokers, args.topic, args.partitions, min(args.timeout_s, 30))

    subject = args.subject
    serializer = AvroSerializer(
        registry_client(args.registry),
        schema_text,
        conf={
            "auto.register.schemas": args.auto_register,
            # the given subject whatever the topic and record name (default: <topic>-value)
            "subject.name.strategy": lambda ctx, record_name: subject,
            # extra fields are an error, missing fields only when the schema has a default for them
            "validate.strict.allow.default": True,
        },
    )
    producer = Producer({
        "bootstrap.servers": args.brokers,
        "acks": "all",
        "enable.idempotence": True,
        # murmur2 like the Java client and kafkajs' DefaultPartitioner (librdkafka's default is crc32)
        "partitioner": "murmur2_random",
        "message.timeout.ms": int(args.timeout_s * 1000),
        "linger.ms": 5,
    })
    ctx = SerializationContext(args.topic, MessageField.VALUE)
    failures: List[str] = []
    delivered = 0
    schema_ids = set()

    def on_delivery(err, msg, lineno):
        nonlocal delivered
        if err is not None:
            failures.append(f"stdin line {lineno}: delivery failed: {err}")
        else:
            delivered += 1

    for lineno, key, value in events:
        datum = from_json(value, parsed, named)
        # fastavro's writer is lenient (it writes the string "12" as the double 12.0): validate first
        try:
            fastavro.validation.validate(datum, parsed, raise_errors=True)
        except fastavro.validation.ValidationError as e:
            raise Fail(f"stdin line {lineno}: does not fit {args.schema}: {'; '.join(map(str, e.errors))}",
                       EXIT_SERDE) from e
        try:
            data = serializer(datum, ctx)
        except Exception as e:  # SerializationError, SchemaRegistryError, fastavro's ValueError/TypeError...
            kind = type(e).__name__
            status = EXIT_KAFKA if kind == "SchemaRegistryError" else EXIT_SERDE
            raise Fail(f"stdin line {lineno}: {kind}: {e}", status) from e
        schema_ids.add(framed_schema_id(data))
        while True:
            try:
                producer.produce(args.topic, value=data, key=None if key is None else key.encode("utf-8"),
                                 on_delivery=lambda err, msg, n=lineno: on_delivery(err, msg, n))
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    remaining = producer.flush(args.timeout_s)
    if remaining:
        failures.append(f"{remaining} record(s) still undelivered after {args.timeout_s:g} s")
    if failures:
        raise Fail("; ".join(failures[:10]) + (f" (and {len(failures) - 10} more)" if len(failures) > 10 else ""))
    print(json.dumps({
        "produced": delivered,
        "schema_id": min(schema_ids) if len(schema_ids) == 1 else sorted(schema_ids) or None,
        "subject": subject,
        "topic": args.topic,
    }), flush=True)
    return 0


# ---------------------------------------------------------------- consume

class ConfluentDecoder:
    """magic byte 0 + 4-byte id checked here; the body decoded by AvroDeserializer (writer schema fetched
    from the registry by id), and once more by fastavro over exactly the body, to catch trailing bytes."""

    def __init__(self, registry: str, reader_text: Optional[str], reader_parsed: Any, reader_named: NamedSchemas):
        self.client = registry_client(registry)
        self.deserializer = AvroDeserializer(
            self.client,
            reader_text,
            conf={
                # the id from the 5-byte prefix only (the default would also take a __value_schema_id header)
                "schema.id.deserializer": prefix_schema_id_deserializer,
                # no subject: the writer schema is fetched by id alone (GET /schemas/ids/{id}), as the
                # wire format says (the default, <topic>-value, would be sent along as ?subject=)
                "subject.name.strategy": lambda ctx, record_name: None,
            },
        )
        self.reader = reader_parsed
        self.reader_named = reader_named
        self.writers: Dict[int, Tuple[Any, NamedSchemas]] = {}

    def writer_schema(self, schema_id: int) -> Tuple[Any, NamedSchemas]:
        if schema_id not in self.writers:
            schema = self.client.get_schema(schema_id)
            named: NamedSchemas = {}
            self._load_references(schema, named, set())
            self.writers[schema_id] = (parse_schema_text(schema.schema_str, named, f"registry schema {schema_id}"), named)
        return self.writers[schema_id]

    def _load_references(self, schema, named: NamedSchemas, seen: set) -> None:
        for ref in schema.references or []:
            if (ref.subject, ref.version) in seen:
                continue
            seen.add((ref.subject, ref.version))
            registered = self.client.get_version(ref.subject, ref.version)
            self._load_references(registered.schema, named, seen)
            parse_schema_text(registered.schema.schema_str, named, f"registry subject {ref.subject} v{ref.version}")

    def decode(self, data: bytes, ctx: SerializationContext) -> Tuple[Optional[int], Any]:
        schema_id = framed_schema_id(data)
        value = self.deserializer(data, ctx)
        writer, writer_named = self.writer_schema(schema_id)
        if self.reader is not None:
            read_exactly(data[5:], writer, self.reader)
            return schema_id, to_json(value, self.reader, self.reader_named)
        read_exactly(data[5:], writer)
        return schema_id, to_json(value, writer, writer_named)


class PlainDecoder:
    def __init__(self, parsed: Any, named: NamedSchemas):
        self.parsed, self.named = parsed, named

    def decode(self, data: bytes, ctx: SerializationContext) -> Tuple[Optional[int], Any]:
        return None, to_json(read_exactly(data, self.parsed), self.parsed, self.named)


def _text_or_b64(b: Optional[bytes]) -> Any:
    if b is None:
        return None
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": _b64(b)}


def cmd_consume(args: argparse.Namespace) -> int:
    if args.framing == "plain" and not args.schema:
        raise Fail("--framing plain needs --schema FILE.avsc", EXIT_USAGE)
    if args.framing == "confluent" and not args.registry:
        raise Fail("--framing confluent needs --registry URL", EXIT_USAGE)
    if args.count < 0:
        raise Fail("--count must be >= 0", EXIT_USAGE)
    reader_text, reader_parsed, reader_named = (None, None, {})
    if args.schema:
        reader_text, reader_parsed, reader_named = read_schema_file(args.schema)
    decoder = (ConfluentDecoder(args.registry, reader_text, reader_parsed, reader_named)
               if args.framing == "confluent" else PlainDecoder(reader_parsed, reader_named))

    group = f"confluent-check-{uuid.uuid4()}"
    consumer = Consumer({
        "bootstrap.servers": args.brokers,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "topic.metadata.refresh.interval.ms": 1000,
    })
    consumer.subscribe([args.topic])
    seen = 0
    extra = 0
    bad: List[str] = []
    last_error: Optional[str] = None
    deadline = time.monotonic() + args.timeout_s
    settle_until: Optional[float] = None
    try:
        while True:
            now = time.monotonic()
            if seen >= args.count:
                if settle_until is None:
                    settle_until = now + args.settle_s
                if now >= settle_until:
                    break
                wait = settle_until - now
            elif now >= deadline:
                break
            else:
                wait = deadline - now
            msg = consumer.poll(min(0.5, max(wait, 0.0)))
            if msg is None:
                continue
            err = msg.error()
            if err is not None:
                if err.fatal():
                    raise Fail(f"consumer error: {err}")
                last_error = str(err)  # e.g. the topic does not exist yet: keep polling until the deadline
                continue
            if seen >= args.count:
                extra += 1
                warn(f"record beyond --count: partition {msg.partition()} offset {msg.offset()}")
                continue
            seen += 1
            where = f"partition {msg.partition()} offset {msg.offset()}"
            data = msg.value()
            headers = msg.headers() or []
            out: Dict[str, Any] = {"partition": msg.partition(), "offset": msg.offset()}
            key = msg.key()
            if key is None:
                out["key"] = None
            else:
                try:
                    out["key"] = key.decode("utf-8")
                except UnicodeDecodeError:
                    out["key"], out["key_base64"] = None, _b64(key)
            if data is None:
                out["schema_id"], out["value"] = None, None  # tombstone
            else:
                ctx = SerializationContext(args.topic, MessageField.VALUE, headers)
                try:
                    out["schema_id"], out["value"] = decoder.decode(data, ctx)
                except Exception as e:  # SerializationError, SchemaRegistryError, fastavro errors, EOFError...
                    if isinstance(e, EOFError):  # fastavro ran out of bytes mid-datum
                        reason = f"the Avro body ends too early ({str(e).split(' from ')[0]})"
                    else:
                        reason = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
                    bad.append(f"{where}: {reason}")
                    warn(f"{where} ({len(data)} bytes, first {data[:8].hex()}): value does not deserialise: {reason}")
                    continue
            ts_type, ts = msg.timestamp()
            out["timestamp"] = ts if ts_type != 0 else None
            out["headers"] = [[k, _text_or_b64(v)] for k, v in headers]
            print(json.dumps(out, allow_nan=False), flush=True)
    finally:
        consumer.close()

    if bad:
        raise Fail(f"{len(bad)} of {seen} value(s) did not deserialise; first: {bad[0]}", EXIT_SERDE)
    if seen < args.count:
        why = f" (last consumer error: {last_error})" if last_error else ""
        raise Fail(f"only {seen} of {args.count} record(s) from {args.topic} within {args.timeout_s:g} s{why}")
    if extra:
        raise Fail(f"{extra} record(s) beyond --count {args.count} within --settle-s {args.settle_s:g}")
    return 0


# ---------------------------------------------------------------- main

def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("produce", help="serialise JSON lines from stdin (AvroSerializer) and produce them")
    p.add_argument("--brokers", required=True)
    p.add_argument("--registry", required=True, help="Confluent API base URL of the schema registry")
    p.add_argument("--topic", required=True)
    p.add_argument("--schema", required=True, help="writer schema, .avsc")
    p.add_argument("--subject", required=True)
    p.add_argument("--auto-register", type=parse_bool, default=True, metavar="true|false")
    p.add_argument("--key-field", help="key = str(value[NAME]) for lines without an envelope key")
    p.add_argument("--partitions", type=int, help="create the topic with N partitions if it is missing")
    p.add_argument("--timeout-s", type=float, default=60.0)
    p.set_defaults(run=cmd_produce)

    c = sub.add_parser("consume", help="read N records from the start of a topic and print them as JSON lines")
    c.add_argument("--brokers", required=True)
    c.add_argument("--registry", help="Confluent API base URL (framing confluent)")
    c.add_argument("--topic", required=True)
    c.add_argument("--count", type=int, required=True)
    c.add_argument("--timeout-s", type=float, default=60.0)
    c.add_argument("--settle-s", type=float, default=0.0, help="keep reading this long after N: more is an error")
    c.add_argument("--framing", choices=["confluent", "plain"], default="confluent")
    c.add_argument("--schema", help="plain: the writer schema; confluent: an optional reader schema")
    c.set_defaults(run=cmd_consume)

    args = ap.parse_args(argv)
    try:
        return args.run(args)
    except Fail as e:
        warn(str(e))
        return e.status
    except KafkaException as e:
        warn(f"Kafka: {e}")
        return EXIT_KAFKA
    except BrokenPipeError:  # the reader of stdout went away (e.g. `| head`): not our failure to report
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_KAFKA
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
