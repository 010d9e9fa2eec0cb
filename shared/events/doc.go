// Package events is the one home of the EventBridge source and detail-type
// that ExpiredToken reports carry. Consumers publish them, the infra app's
// rules match them and the reactor handles them; none spells the strings.
package events

// Source is the EventBridge source of every event stsrotator defines.
const Source = "stsrotator"

// DetailTypeExpiredToken is the detail-type a consumer publishes when the
// credentials it read from a secret were refused as expired, so the target
// is rotated before the next scheduled sweep.
const DetailTypeExpiredToken = "ExpiredToken Observed"
