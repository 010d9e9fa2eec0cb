// Package reaction owns what stsrotator does when someone hits
// ExpiredToken: it turns the three signal sources (consumer reports,
// CloudTrail, log watching) into one Signal, matches it to a target,
// decides between forcing a rotation, telling a stale consumer to re-read,
// and alerting only, debounces both rotations and alerts, and writes the
// alert a human reads.
//
// Rotation debounce lives in Secrets Manager itself: the current version's
// issue time and the rotation engine's deterministic ClientRequestToken.
// Alert debounce lives in one DynamoDB table every execution environment
// shares (TableClaims: a conditional UpdateItem per alert key), so at most
// one alert per target and one summary of unmatched or refused reports
// per window for the whole deployment; without the table (local runs) in
// memory (MemoryClaims). A report acts only when its sender (the
// EventBridge envelope's account) is the stack's own account or reads the
// target it names (Reads).
package reaction
