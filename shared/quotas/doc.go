// Package quotas is the one table of the AWS limits stsrotator's
// templates (and the accounts they deploy to) can reach: CloudFormation's
// per-stack limits, policy sizes (Lambda function policies, IAM inline and
// managed policies, secret resource policies, KMS key policies), rules per
// event bus, event pattern size, subscription filters per log group, and
// the like. Each row carries the documented default, whether it can be
// raised, the AWS page that states it and what a user changes when a
// deploy would cross it.
//
// The infra app measures its synthesized templates against these rows
// and fails synth with an *ExceededError instead of letting CloudFormation
// roll back minutes into a deploy. docs/quotas.md is generated from All
// (TestQuotasDoc keeps it in step).
package quotas
