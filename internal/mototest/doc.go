// Package mototest starts the moto AWS emulator (Python, `moto[server]`)
// on a loopback port for tests that need what kumo, the fast default
// emulator, gets wrong: strict GetCallerIdentity (assumed-role ARNs),
// Secrets Manager's ClientRequestToken and staging-label rules, IAM, and a
// CloudFormation engine that `cdk deploy` can target.
//
// moto is a second emulator, not AWS: tests assert AWS's documented
// behaviour where moto follows it, and docs/local.md lists every gap met.
// .ci/run installs `moto[server]` with pip only when it is missing; a
// machine without python3 or moto fails the test with the install line,
// never skips it.
//
// It is test support: production code never imports it.
package mototest
