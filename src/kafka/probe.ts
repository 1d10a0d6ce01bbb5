import type { Admin, Kafka } from 'kafkajs';

export interface BrokerProbe {
  /** True when a broker answered a metadata request within the timeout. */
  reachable(): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * For /readyz: one admin connection, a DescribeCluster round trip per call (the caller caches).
 * A failed probe drops the connection, so the next one starts afresh.
 */
export function createBrokerProbe(kafka: Kafka, timeoutMs = 3_000): BrokerProbe {
  let admin: Admin | undefined;
  let connected = false;
  const drop = async (): Promise<void> => {
    const old = admin;
    admin = undefined;
    connected = false;
    await old?.disconnect().catch(() => undefined);
  };
  return {
    async reachable() {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      });
      const probe = (async () => {
        admin ??= kafka.admin({ retry: { retries: 0 } });
        if (!connected) {
          await admin.connect();
          connected = true;
        }
        const cluster = await admin.describeCluster();
        return cluster.brokers.length > 0;
      })().catch(() => false);
      const ok = await Promise.race([probe, timeout]);
      clearTimeout(timer);
      if (!ok) await drop();
      return ok;
    },
    close: drop,
  };
}
