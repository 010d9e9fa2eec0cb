// Package quotacheck measures a synthesized cloud assembly — the root
// template and every nested one — against the AWS limits of
// shared/quotas: resources, outputs, parameters and size per stack,
// stacks, rules on the default bus, targets per rule, event pattern size,
// every function's resource-based policy, every role's inline, managed
// and trust policies, every secret's resource policy, the KMS key policy,
// subscription filters per log group, metrics per alarm, function
// environments and descriptions, and schedules.
//
// Values CloudFormation fills in at deploy time (partition, Region,
// account, generated names, ARNs passed between stacks) are measured at
// their longest (WorstCase), so a template that passes here fits in every
// Region and partition. The infra app runs Check after every synth and
// fails it with the *quotas.ExceededError messages; Measure gives the
// figures docs/benchmarks.md reports.
package quotacheck
