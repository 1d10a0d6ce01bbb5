"""
The librdkafka limit for the benchmark's Python rows: consume → produce the same key, bytes and
headers to the output topic, no decode or score, with the peer's client settings and commit
discipline (common.py: consume(num_messages=5000) batches, idempotent producer with acks=all, a
batch's offsets committed once all its records are acknowledged). Each record goes to the
partition it came from, so output offset = input offset (bench.ts reads latency that way, as for
the kafkajs ceiling). Run by bench/bench.ts (python-passthrough row).
"""

from common import Row, run


def main() -> None:
    row = Row()
    output = row.spec["output"]

    def process(messages, producer, delivered) -> int:
        for m in messages:
            while True:
                try:
                    producer.produce(output, value=m.value(), key=m.key(), headers=m.headers(), partition=m.partition(), on_delivery=delivered)
                    break
                except BufferError:  # the local queue is full: serve deliveries, then again
                    producer.poll(0.05)
        return len(messages)

    run(row, process)


if __name__ == "__main__":
    main()
