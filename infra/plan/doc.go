// Package plan decides where each config target lives in the deployed
// service: which shard (nested stack) holds its secret, which rotator lane
// (function, role and schedule) keeps it fresh, and which config file that
// lane reads. It is plain Go, free of CDK, so the rules that keep a
// 2,000-target config inside CloudFormation's and IAM's limits are tested
// in milliseconds.
//
// Shards are fixed hash buckets of the target name, so a target's secret
// never changes stack when other targets are added or removed: Secrets
// Manager names are unique, and CloudFormation cannot move a named secret
// from one stack to another in a single deploy. The same stable bucket
// names each shard's one rotator role (RotatorRoleName), which every lane
// of the shard runs as, so the exact ARN a target role trusts never
// changes for the target's life. Lanes, in contrast, own no trusted
// identity, so they are re-packed freely on every synth.
package plan
