// Package events is the one home of the EventBridge source and detail-type
// that ExpiredToken reports carry. Consumers publish them, the infra app's
// rules match them and the reactor handles them; none spells the strings.
package events
