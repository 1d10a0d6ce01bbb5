/**
 * Whether spans go anywhere: set by startTelemetry (telemetry/sdk.ts), read by the service.
 * Without an exporter the pipeline builds no spans and passes each input's trace context on
 * unchanged (telemetry/trace-forwarding.ts). Its own module so that reading it does not load
 * the OpenTelemetry SDK.
 */
let exporting = false;

export function spansExported(): boolean {
  return exporting;
}

export function setSpansExported(value: boolean): void {
  exporting = value;
}
