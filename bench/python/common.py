"""Shared by the benchmark's Python rows (peer.py, passthrough.py): the row protocol and measurement.

A row is started by bench/bench.ts with BENCH_ROW (JSON of bench/row.ts's RowSpec) and KAFKA_BROKERS.
It prints `BENCH_ROW_READY` once the consumer has its assignment and `BENCH_ROW_RESULT {json}` at the
end; `expected` comes in the spec (pre-produced input) or later as a stdin line `{"expected": n}`
(live input). Measured as bench/row.ts measures: from the first fetched batch until `expected` inputs
have their outputs acknowledged; CPU = every thread of the process (getrusage RUSAGE_SELF, which
includes librdkafka's and onnxruntime's threads), peak RSS = ru_maxrss.
"""

import json
import math
import os
import resource
import sys
import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition


class Row:
    def __init__(self) -> None:
        self.spec = json.loads(os.environ.get("BENCH_ROW", "{}"))
        self.brokers = os.environ["KAFKA_BROKERS"]
        expected = self.spec.get("expected")
        self.expected = math.inf if expected is None else int(expected)
        self.done = 0
        self.first_at = 0.0
        self.cpu_at_first = 0.0
        self.result = None
        self._ready = False
        threading.Thread(target=self._read_stdin, daemon=True).start()

    def _read_stdin(self) -> None:
        for line in sys.stdin:
            line = line.strip()
            if not line:
                continue
            message = json.loads(line)
            if isinstance(message.get("expected"), int):
                self.expected = message["expected"]  # the main loop sees it at its next batch

    @staticmethod
    def _cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def ready(self) -> None:
        if not self._ready:
            self._ready = True
            print("BENCH_ROW_READY", flush=True)

    def fetched(self) -> None:
        if self.first_at == 0.0:
            self.first_at = time.perf_counter()
            self.cpu_at_first = self._cpu()

    def acked(self, count: int) -> None:
        self.done += count
        self.check()

    def check(self) -> bool:
        """True once `expected` outputs are acknowledged (the result is then taken, once)."""
        if self.result is None and self.done >= self.expected and self.first_at != 0.0:
            seconds = time.perf_counter() - self.first_at
            cpu = self._cpu() - self.cpu_at_first
            self.result = {
                "mode": self.spec["mode"],
                "events": self.done,
                "seconds": seconds,
                "eventsPerSecond": self.done / seconds,
                "cpuSeconds": cpu,
                "cpuSecondsPer1k": cpu / self.done * 1000,
                "peakRssMb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        return self.result is not None

    def report(self) -> None:
        print("BENCH_ROW_RESULT " + json.dumps(self.result), flush=True)


def consumer_config(row: Row) -> dict:
    """The consumer both rows use: the row's group, manual commits, from the beginning."""
    return {
        "bootstrap.servers": row.brokers,
        "group.id": row.spec["group"],
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "enable.partition.eof": False,
    }


def producer_config(row: Row) -> dict:
    """Idempotent, acks=all, no compression; murmur2 keys as the Java client and kafkajs partition them."""
    return {
        "bootstrap.servers": row.brokers,
        "enable.idempotence": True,
        "acks": "all",
        "compression.type": "none",
        "partitioner": "murmur2_random",
        "linger.ms": 5,
    }


BATCH = 5000
# Waiting for the first message of a batch, at most this long (then the loop checks `expected`).
FIRST_MESSAGE_TIMEOUT_S = 0.1


class Deliveries:
    """
    Commit discipline: a fetched batch's offsets are committed (asynchronously) only once every
    record produced for it is acknowledged. Batches complete in order (one producer, idempotent,
    so per partition in order); up to `depth` batches are in flight before the loop waits.
    """

    def __init__(self, row: Row, consumer, producer, depth: int = 2) -> None:
        self.row = row
        self.consumer = consumer
        self.producer = producer
        self.depth = depth
        self.pending: list = []  # [remaining, offsets {(topic, partition): next offset}, produced]
        self.error = None
        self.committed: dict = {}

    def callback_for(self, batch: list):
        def delivered(err, _msg) -> None:
            if err is not None:
                self.error = err
                return
            batch[0] -= 1
        return delivered

    def start(self, offsets: dict) -> list:
        batch = [0, offsets]
        self.pending.append(batch)
        return batch

    def _settle(self) -> None:
        if self.error is not None:
            raise RuntimeError(f"delivery failed: {self.error}")
        while self.pending and self.pending[0][0] == 0:
            batch = self.pending.pop(0)
            self.row.acked(batch[2])
            self.commit(batch[1])

    def commit(self, offsets: dict, asynchronous: bool = True) -> None:
        self.committed.update(offsets)
        if offsets:
            self.consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()], asynchronous=asynchronous)

    def produced(self, batch: list, count: int) -> None:
        """All of the batch's records are handed to the producer: `count` outputs (and as many delivery callbacks)."""
        batch[0] += count
        batch.append(count)
        self.producer.poll(0)
        self._settle()
        while len(self.pending) > self.depth:
            self.producer.poll(0.05)
            self._settle()

    def serve(self, timeout: float = 0) -> None:
        self.producer.poll(timeout)
        self._settle()

    def drain(self) -> None:
        while self.pending:
            self.producer.poll(0.05)
            self._settle()


def consume(consumer, wait: float) -> list:
    """
    Up to BATCH messages: what is queued now, else the first one to arrive within `wait` and what
    came with it. (consume(num_messages=BATCH, timeout=t) alone waits out t for a full batch whenever
    fewer are queued: at a moderate rate every event would wait up to t.)
    """
    messages = consumer.consume(num_messages=BATCH, timeout=0)
    if not messages and wait > 0:
        messages = consumer.consume(num_messages=1, timeout=wait)
        if messages:
            messages += consumer.consume(num_messages=BATCH - 1, timeout=0)
    return messages


def run(row: Row, process) -> None:
    """The consume loop both Python rows share: `process(messages, producer, delivered)` produces a batch."""
    consumer = Consumer(consumer_config(row))
    producer = Producer(producer_config(row))
    deliveries = Deliveries(row, consumer, producer)
    consumer.subscribe([row.spec["input"]], on_assign=lambda _c, partitions: row.ready() if partitions else None)
    while not row.check():
        # With deliveries outstanding, the producer is served between short looks at the consumer.
        messages = consume(consumer, 0 if deliveries.pending else FIRST_MESSAGE_TIMEOUT_S)
        if not messages:
            deliveries.serve(0.005 if deliveries.pending else 0)
            continue
        good = []
        for m in messages:
            if m.error() is None:
                good.append(m)
            else:
                print(f"python row: consume error {m.error()}", file=sys.stderr, flush=True)
        if not good:
            continue
        row.fetched()
        offsets = {}
        for m in good:
            offsets[(m.topic(), m.partition())] = m.offset() + 1
        batch = deliveries.start(offsets)
        count = process(good, producer, deliveries.callback_for(batch))
        deliveries.produced(batch, count)
    deliveries.drain()
    producer.flush()
    deliveries.commit(deliveries.committed, asynchronous=False)  # the last async commits, settled before close
    consumer.close()
    row.report()
