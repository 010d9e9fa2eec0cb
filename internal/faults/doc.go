// Package faults sits between AWS SDK clients and an emulator and makes a
// configurable, seeded share of calls fail the ways AWS calls fail:
// throttling, 5xx, connection resets before the request leaves, timeouts
// and lost responses after the service acted, and a caller that dies
// mid-call. Every decision is a pure function of the seed and the call's
// service, operation, resource and per-resource attempt number, so a failing
// run replays exactly even when calls interleave differently.
//
// It also keeps a Ledger of what crossed the wire — which access keys
// AssumeRole issued, which were used to call GetCallerIdentity, which were
// stored in a secret — so tests can prove from the traffic itself, not from
// the code under test, that no stored credential skipped verification.
//
// The one thing it changes about the emulator's answers is Expiration:
// SimulatedExpiry re-bases AssumeRole's wall-clock Expiration onto a
// simulated clock, so a simulated day can run in seconds. (kumo's own
// Secrets Manager races are kept out by awstest.Transport, which delivers
// one request per secret at a time for every test.) Everything else is
// the emulator's own behaviour, and nothing here should be read as a
// statement about AWS.
//
// It is test support: production code never imports it.
package faults
