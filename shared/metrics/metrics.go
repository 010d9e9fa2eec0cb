package metrics

import (
	"encoding/json"
	"io"
	"sync"
	"time"
)

// Namespace is the CloudWatch namespace of every stsrotator metric.
const Namespace = "stsrotator"

// DimTarget is the dimension naming a config target.
const DimTarget = "Target"

// Metric names. Per-target metrics carry DimTarget; the others none.
const (
	// ValiditySeconds is how long the target's current secret stays valid,
	// measured at the end of every rotation attempt (per target).
	ValiditySeconds = "ValiditySeconds"
	// Rotations counts new secret versions written (per target).
	Rotations = "Rotations"
	// RotationFailures counts attempts that wrote nothing because of an
	// error (per target).
	RotationFailures = "RotationFailures"
	// SweepDuration is the wall time of one rotator invocation, in ms.
	SweepDuration = "SweepDurationMs"
	// EventPublishFailures counts lifecycle events (Credentials Rotated,
	// Rotation Failed, Alert) that could not be put on EventBridge. The
	// work they announce is never failed for it; an alarm watches this.
	EventPublishFailures = "EventPublishFailures"
	// SupersededNotCurrent counts writes that lost their ClientRequestToken
	// while the version that holds it, or the one AWSCURRENT now names, is
	// not AWSCURRENT and usable: the secret may be stuck (per target, and
	// undimensioned for the stack's alarm).
	SupersededNotCurrent = "SupersededNotCurrent"
	// VersionQuotaHeld counts writes held back because the secret already
	// has stsrotator's maximum of versions in the last 24 hours (per
	// target, and undimensioned for the stack's alarm).
	VersionQuotaHeld = "VersionQuotaHeld"
	// RevocationCutoffsRefused counts invocations refused because their
	// revokedBefore was later than the rotator's clock plus
	// rotation.ClockSkew: nothing was read or written for them
	// (undimensioned, and per target when the target is known).
	RevocationCutoffsRefused = "RevocationCutoffsRefused"
)

// Unit is a CloudWatch unit name.
type Unit string

// Units used by stsrotator.
const (
	Count        Unit = "Count"
	Seconds      Unit = "Seconds"
	Milliseconds Unit = "Milliseconds"
)

// Writer prints EMF lines; one line per Put keeps each datum independent
// of the others and of log ordering. It is safe for concurrent use.
type Writer struct {
	mu  sync.Mutex
	out io.Writer
	now func() time.Time
}

// NewWriter writes EMF lines to out (in Lambda, stdout).
func NewWriter(out io.Writer, now func() time.Time) *Writer {
	return &Writer{out: out, now: now}
}

// Put emits one value. dims may be nil for an undimensioned metric.
func (w *Writer) Put(name string, value float64, unit Unit, dims map[string]string) {
	if w == nil {
		return
	}
	keys := make([]string, 0, len(dims))
	doc := map[string]any{name: value}
	for k, v := range dims {
		keys = append(keys, k)
		doc[k] = v
	}
	dimSets := [][]string{keys}
	doc["_aws"] = map[string]any{
		"Timestamp": w.now().UnixMilli(),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace":  Namespace,
			"Dimensions": dimSets,
			"Metrics":    []any{map[string]any{"Name": name, "Unit": string(unit)}},
		}},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	_, _ = w.out.Write(append(b, '\n'))
}

// PutTarget is Put with the Target dimension.
func (w *Writer) PutTarget(target, name string, value float64, unit Unit) {
	w.Put(name, value, unit, map[string]string{DimTarget: target})
}

// Reactor metrics.
const (
	// DimSource is the signal source: consumer, cloudtrail or logs.
	DimSource = "Source"
	// EventsReceived counts ExpiredToken signals (per source).
	EventsReceived = "EventsReceived"
	// ForcedRotations counts rotations a report caused (per target).
	ForcedRotations = "ForcedRotations"
	// StaleConsumers counts reports of keys older than the current
	// version while it was valid (per target).
	StaleConsumers = "StaleConsumers"
	// UnmatchedEvents counts reports that named no known target or key.
	UnmatchedEvents = "UnmatchedEvents"
	// RejectedEvents counts events that could not be parsed.
	RejectedEvents = "RejectedEvents"
	// RefusedReports counts consumer reports the reactor would not act
	// on because of who sent them (per Reason: ReasonNotAReader,
	// ReasonKeyOnly): from an account that does not read the target it
	// names, or from another account naming only a key. Never rotated,
	// never alerted individually (shared/reaction).
	RefusedReports = "RefusedReports"
	// KeySearchSkipped counts key-only reports from the stack's own
	// account that were not searched for because the config has more
	// targets than reaction.MaxKeySearchTargets.
	KeySearchSkipped = "KeySearchSkipped"
	// DimReason says why a report was refused.
	DimReason = "Reason"
	// Reasons for RefusedReports.
	ReasonNotAReader = "not-a-reader"
	ReasonKeyOnly    = "key-only-from-other-account"
)
