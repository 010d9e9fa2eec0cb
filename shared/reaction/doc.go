// Package reaction owns what stsrotator does when someone hits
// ExpiredToken: it turns the three signal sources (consumer reports,
// CloudTrail, log watching) into one Signal, matches it to a target,
// decides between forcing a rotation, telling a stale consumer to re-read,
// and alerting only, debounces both rotations and alerts, and writes the
// alert a human reads.
//
// Rotation debounce lives in Secrets Manager itself: the current version's
// issue time and the rotation engine's deterministic ClientRequestToken.
// Alert debounce lives in each execution environment's memory: the stack
// reserves no concurrency for the reactor, so only the rotation alert is
// exactly once (the invocation that rotated sends it); other alerts are at
// most once per target per window per environment.
package reaction
