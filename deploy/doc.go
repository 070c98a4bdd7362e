// Package deploy holds hookrelay's deployment files: the Dockerfile,
// Kubernetes manifests, NATS Helm values, the Grafana dashboard, Prometheus
// alert rules and the docker-compose support files. It has no code; its tests
// parse every file and check that dashboards and alerts use metrics hookrelay
// exports.
package deploy
