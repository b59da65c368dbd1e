// Package deploy holds the deployment files' configuration (Prometheus, Grafana) and, in its tests, the checks of
// the deployment files at the top of the repository (docker-compose.yml, Dockerfile) that `docker-compose config`
// does not make: which services each profile runs, a health check behind every wait, pinned images, the option
// names KurrentDB 25+ accepts, the cluster's gossip seeds, csc's connection strings (parsed by the EventStoreDB
// client itself), Prometheus targets, Grafana provisioning, and that every metric the dashboard plots is defined
// in the code. It has no code of its own; deploy/check.sh runs the tool-based checks.
package deploy
