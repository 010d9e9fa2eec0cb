package events

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
)

// Emitter publishes stsrotator's lifecycle events (Credentials Rotated,
// Rotation Failed, Alert). A nil Emitter, or one without API, publishes
// nothing, so code paths that run without EventBridge need no checks.
type Emitter struct {
	API Putter
	// Bus is the event bus name or ARN; empty means the default bus.
	Bus string
}

// Emit validates and publishes one detail and returns its event ID.
// Callers treat an error as something to count and log, never as a
// failure of the work the event announces.
func (e *Emitter) Emit(ctx context.Context, d Lifecycle) (string, error) {
	if e == nil || e.API == nil {
		return "", nil
	}
	detail, err := Encode(d)
	if err != nil {
		return "", err
	}
	bus := e.Bus
	if bus == "" {
		bus = DefaultBus
	}
	entry := ebtypes.PutEventsRequestEntry{
		EventBusName: aws.String(bus),
		Source:       aws.String(Source),
		DetailType:   aws.String(d.DetailType()),
		Detail:       aws.String(string(detail)),
		Time:         aws.Time(d.Time()),
	}
	out, err := e.API.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{entry}})
	if err != nil {
		return "", fmt.Errorf("put %s event on bus %s: %w", d.DetailType(), bus, err)
	}
	// PutEvents reports per-entry failures inside a successful response.
	if out.FailedEntryCount > 0 || len(out.Entries) != 1 || out.Entries[0].ErrorCode != nil {
		var code, msg string
		if len(out.Entries) == 1 {
			code, msg = aws.ToString(out.Entries[0].ErrorCode), aws.ToString(out.Entries[0].ErrorMessage)
		}
		return "", fmt.Errorf("put %s event on bus %s: entry rejected: %s %s", d.DetailType(), bus, code, msg)
	}
	return aws.ToString(out.Entries[0].EventId), nil
}
