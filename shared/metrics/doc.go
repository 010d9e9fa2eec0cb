// Package metrics owns stsrotator's CloudWatch metrics: their namespace,
// names and dimensions (which the infra app's alarms and dashboard import)
// and the Embedded Metric Format lines the functions print to emit them.
package metrics
