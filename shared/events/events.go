package events

// Source is the EventBridge source of every event stsrotator defines.
const Source = "stsrotator"

// DetailTypeExpiredToken is the detail-type a consumer publishes when the
// credentials it read from a secret were refused as expired, so the target
// is rotated before the next scheduled sweep.
const DetailTypeExpiredToken = "ExpiredToken Observed"
