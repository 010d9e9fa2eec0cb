// Package motodeploy proves the service deploys and works on a real
// CloudFormation engine: its test starts moto (internal/mototest), runs
// the pinned CDK CLI's `cdk bootstrap` and `cdk deploy --all` of the
// example config and of a generated 2,000-target config, requires every
// stack CREATE_COMPLETE, and then runs the deployed rotator (the host
// build of its package, with the environment read back from moto) under
// the Lambda Runtime API against moto with strict identity verification.
//
// moto silently skips some resource types; the test asserts those from
// the deployed template, never as if moto had created them, and
// docs/local.md lists every gap. The package holds tests only.
package motodeploy
