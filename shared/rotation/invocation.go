package rotation

import (
	"time"

	"github.com/stsrotator/stsrotator/shared/events"
	"github.com/stsrotator/stsrotator/shared/sourcekey"
)

// Invocation is the rotator function's input, shared by everything that
// invokes it (the schedule, the reactor, the CLI's rotate). The schedule
// sends {}: sweep every target. A caller asking for one target names it,
// optionally forcing.
type Invocation struct {
	Target string `json:"target,omitempty"`
	Force  bool   `json:"force,omitempty"`
	// Reason is recorded in logs, e.g. "expired-token report from app-1".
	Reason string `json:"reason,omitempty"`
	// Why is the cause announced in the Credentials Rotated or Rotation
	// Failed event; empty means "schedule", or "forced" with Force.
	Why events.Cause `json:"why,omitempty"`
	// RevokedBefore is a revocation's cutoff (stsrotator revoke): the
	// current credentials, if issued before it, are denied by the target
	// role and count as unusable, so the write-interval guidance yields.
	RevokedBefore time.Time `json:"revokedBefore,omitzero"`
	// SourceKey asks the source-key rotator to rotate the IAM user's
	// access key instead of sweeping targets (its own schedule sends it).
	SourceKey bool `json:"sourceKey,omitempty"`
}

// Response is the rotator function's output; it never carries secrets.
type Response struct {
	Mode    string  `json:"mode"` // "sweep", "target" or "source-key"
	Summary Summary `json:"summary"`
	// SourceKey is the source-key run's result, in mode "source-key".
	SourceKey  *sourcekey.Result `json:"sourceKey,omitempty"`
	DurationMs int64             `json:"durationMs"`
}
