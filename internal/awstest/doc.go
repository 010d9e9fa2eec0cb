// Package awstest runs stsrotator's tests against real AWS wire protocols:
// it starts the kumo emulator in-process, builds SDK clients for it, and
// puts a recording transport between them that counts calls per
// operation, can add latency or inject faults, and remembers every secret
// that crossed the wire so suites can prove none of it reached a log.
//
// It is test support: production code never imports it.
package awstest
