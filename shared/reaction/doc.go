// Package reaction owns what stsrotator does when someone hits
// ExpiredToken: it turns the three signal sources (consumer reports,
// CloudTrail, log watching) into one Signal, matches it to a target,
// decides between forcing a rotation, telling a stale consumer to re-read,
// and alerting only, debounces both rotations and alerts, and writes the
// alert a human reads.
//
// Rotation debounce lives in Secrets Manager itself: the current version's
// issue time and the rotation engine's deterministic ClientRequestToken.
// Alert debounce lives in the reactor's memory, which the stack makes one
// process by giving the reactor a reserved concurrency of 1.
package reaction
