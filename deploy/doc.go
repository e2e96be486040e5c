// Package deploy holds what operators run BadBatch with, and the tests
// that keep it true to the server; it has no Go API.
//
//   - grafana/badbatch.json: a Grafana dashboard over the server's
//     /metrics. Its test starts the real binary with replication on and
//     checks that every metric a panel or variable queries is exposed, and
//     that every query parses (promtool).
//   - prometheus/alerts.yaml: alerting rules, checked with `promtool check
//     rules` and unit-tested with `promtool test rules` against
//     prometheus/alerts_test.yaml; their metrics are checked like the
//     dashboard's.
//   - helm/badbatch: a chart that runs a three-node replicated cluster as a
//     StatefulSet, checked with `helm lint` and `helm template` (helm v4,
//     built from the separate module in tools/ so that the project's
//     go.mod stays free of Kubernetes; the binary is cached beside the Go
//     build cache), and the configuration it renders validated by the
//     binary itself.
//   - ../Dockerfile: the image (distroless/static, non-root); docker cannot
//     run here, so the test reads it and runs its build command.
//
// promtool comes with Debian's prometheus package; .ci/run installs it
// and builds helm before the tests.
package deploy
