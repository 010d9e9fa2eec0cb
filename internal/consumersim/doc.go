// Package consumersim measures stsrotator's promise in its consumers'
// terms: whether a program signs an AWS request with credentials that
// have expired.
//
// Each consumer model is a small state machine driven by a simulated
// clock: the credential cache of an AWS SDK (botocore, the AWS SDK for
// JavaScript v3, Java v2, Go v2) in front of a credential source (the
// `stsrotator credential-process` rule, or the `stsrotator serve`
// endpoint's cache), stsrotator's own Go provider, and two controls that
// load credentials once and never refresh. Every constant names the SDK
// source file and line it comes from (Spec.Source), and the tests check
// each against the real client where it is installed.
//
// Sim runs the real rotation engine (shared/rotation), its sweep
// schedule, the reactor (shared/reaction) and serve's cache
// (shared/credprovider) on an injected clock against the in-process
// emulator behind the fault layer (internal/faults), with many consumers
// per target each signing a request every few seconds of simulated time,
// and counts what each model signed. It is a test harness: nothing in the
// product imports it.
package consumersim
