// Package emulator runs stsrotator's real function binaries against the
// kumo AWS emulator: it starts kumo in-process (optionally reachable on a
// fixed loopback port, where kumo's EventBridge delivers to Lambda),
// builds function packages for the host, runs them under kumo's Lambda
// Runtime API endpoint, and invokes them. The local stack and the test
// harness (internal/awstest) are both built on it.
package emulator
