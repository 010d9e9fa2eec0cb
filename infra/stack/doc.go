// Package stack is the CDK definition of the whole stsrotator service: one
// root stack holding what is shared (the KMS key, the alert topic, the
// scheduler's dead-letter queue, the ExpiredToken rules, the dashboard)
// and one nested stack per plan.Shard holding its targets' secrets and the
// rotator lanes that keep them fresh.
//
// Every IAM statement, resource policy and cdk-nag suppression is written
// here, next to the resource it is about, with the reason it is needed;
// docs/infra.md explains the whole.
package stack
