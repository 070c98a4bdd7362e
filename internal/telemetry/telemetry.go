// Package telemetry gives hookrelay its traces, metrics and logs: an
// OpenTelemetry tracer configured by the standard OTEL_* environment
// variables, W3C trace context carried in NATS headers, Prometheus metrics
// served at /metrics, and a slog handler that redacts secrets.
package telemetry
