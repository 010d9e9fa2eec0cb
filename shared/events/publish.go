package events

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
)

// DefaultBus is where reports go when no bus is configured: the account's
// default bus, which the infra app's rule watches.
const DefaultBus = "default"

// Putter is the one EventBridge call publishing needs, with the SDK's exact
// signature so *eventbridge.Client satisfies it.
type Putter interface {
	PutEvents(context.Context, *eventbridge.PutEventsInput, ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// Entry builds the PutEvents entry for a report. It validates first, so
// nothing the reactor would reject (a whole access key above all) is ever
// sent.
func Entry(bus string, d ExpiredToken) (ebtypes.PutEventsRequestEntry, error) {
	if d.SchemaVersion == 0 {
		d.SchemaVersion = SchemaVersion
	}
	// Error messages are copied from SDKs, CLIs and logs, which may quote
	// a key whole; the report carries it masked.
	d.ErrorMessage = MaskKeys(d.ErrorMessage)
	if err := d.Validate(); err != nil {
		return ebtypes.PutEventsRequestEntry{}, err
	}
	detail, err := json.Marshal(d)
	if err != nil {
		return ebtypes.PutEventsRequestEntry{}, fmt.Errorf("encode ExpiredToken detail: %w", err)
	}
	if bus == "" {
		bus = DefaultBus
	}
	return ebtypes.PutEventsRequestEntry{
		EventBusName: aws.String(bus),
		Source:       aws.String(Source),
		DetailType:   aws.String(DetailTypeExpiredToken),
		Detail:       aws.String(string(detail)),
		Time:         aws.Time(d.ObservedAt),
	}, nil
}

// toBusRegion sends PutEvents to the region of a bus named by ARN: a
// consumer reading a secret's replica in another region still reports to
// the primary region's bus, which the secret's reportBus names and where
// the reactor and rotator run. A bus named by name stays in the client's
// region.
func toBusRegion(bus string) func(*eventbridge.Options) {
	return func(o *eventbridge.Options) {
		parts := strings.SplitN(bus, ":", 6)
		if len(parts) == 6 && parts[0] == "arn" && parts[2] == "events" && parts[3] != "" {
			o.Region = parts[3]
		}
	}
}

// Publish sends one report and returns its event ID. PutEvents reports
// per-entry failures in a successful response; Publish turns those into an
// error so a caller cannot mistake a dropped event for a delivered one.
func Publish(ctx context.Context, api Putter, bus string, d ExpiredToken) (string, error) {
	entry, err := Entry(bus, d)
	if err != nil {
		return "", err
	}
	out, err := api.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{entry}}, toBusRegion(bus))
	if err != nil {
		return "", fmt.Errorf("put ExpiredToken event on bus %s: %w", aws.ToString(entry.EventBusName), err)
	}
	if out.FailedEntryCount > 0 || len(out.Entries) != 1 || out.Entries[0].ErrorCode != nil {
		var code, msg string
		if len(out.Entries) == 1 {
			code, msg = aws.ToString(out.Entries[0].ErrorCode), aws.ToString(out.Entries[0].ErrorMessage)
		}
		return "", fmt.Errorf("put ExpiredToken event on bus %s: entry rejected: %s %s", aws.ToString(entry.EventBusName), code, msg)
	}
	return aws.ToString(out.Entries[0].EventId), nil
}
