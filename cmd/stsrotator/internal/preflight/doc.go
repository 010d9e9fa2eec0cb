// Package preflight checks an AWS account, with read-only calls, for what
// the stsrotator templates assume but cannot create: the CDK bootstrap
// stack, Lambda concurrency headroom, each logGroups entry (it exists and
// has a free subscription-filter slot), each reader principal (it exists,
// or Secrets Manager refuses the secret's resource policy), and each
// target role's trust policy (it lets the stack's rotator roles assume it
// with what the config passes). Principals in other accounts are reported
// as "cannot check from here".
//
// `stsrotator preflight` prints Run's findings, one line each, and exits 0
// only when none blocks the deploy.
package preflight
