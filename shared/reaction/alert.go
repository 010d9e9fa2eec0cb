package reaction

import (
	"fmt"
	"strings"
	"time"

	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/humantime"
	"github.com/stsrotator/stsrotator/shared/rotation"
)

// Alert renders the message a human reads in an email. It carries masked
// keys only, and it is in two parts that never mix:
//
//   - first what stsrotator itself established: the action it took, the
//     target and secret, the current version, the failing key's match,
//     what to run next;
//   - then, under a line naming who claimed it (the report's sender by the
//     account EventBridge recorded, or CloudTrail), every field that came
//     from a reporter or a log line, each on a line starting with "> ",
//     escaped (Clean: no CR, LF or other control character survives) and
//     shortened. A reporter cannot add a line that reads as stsrotator's.
//
// cur is the current version as it is now, after any rotation; failing
// is the version that held the reported key when the reactor decided
// (zero when no key was reported or none matched). They differ exactly
// when the alert matters most: a forced rotation has just replaced the
// failing key, which is then neither current nor, reliably, previous.
func Alert(now time.Time, s Signal, out Outcome, t config.Target, cur, failing Version, suppressed int, window time.Duration) (subject, body string) {
	name := out.Target
	if name == "" {
		name = "unknown target"
	}
	var b strings.Builder
	line := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "%-14s %s\n", label+":", fmt.Sprintf(format, args...))
	}

	var action, short string
	switch out.Decision.Action {
	case Force:
		switch {
		case out.Rotation != nil && !out.Rotation.HeldUntil.IsZero():
			// Secrets Manager's version quota: say so, and when a write
			// will be allowed again.
			action = fmt.Sprintf("a rotation is needed because %s, but it is held back by the secret version quota: %s", out.Decision.Reason, out.Rotation.Reason)
			short = "rotation held back until " + out.Rotation.HeldUntil.UTC().Format("15:04Z") + " (version quota)"
		case out.Rotation != nil && out.Rotation.Outcome == rotation.Rotated:
			action = fmt.Sprintf("forced a rotation because %s → new key %s, valid until %s", out.Decision.Reason, out.Rotation.Key, out.Rotation.Expires.Format(time.RFC3339))
			short = "rotated after ExpiredToken"
		case out.Rotation != nil:
			action = fmt.Sprintf("tried to force a rotation because %s, but it %s: %s", out.Decision.Reason, out.Rotation.Outcome, out.Rotation.Reason)
			short = "ROTATION FAILED after ExpiredToken"
		default:
			action = "a rotation is needed because " + out.Decision.Reason
			short = "rotation needed"
		}
	case Stale:
		if out.Decision.Replaced && cur.Exists && cur.ParseErr == nil {
			// This may be the only alert about that rotation (its own
			// failed to publish and Lambda retried the report), so it
			// names the rotation as the action taken.
			action = fmt.Sprintf("rotated %s after ExpiredToken: version %s (key %s) replaced the failing key; no second rotation inside the %s window. The consumer must re-read the secret (AWSCURRENT)",
				humantime.Since(now, cur.Value.Meta.IssuedAt), shortID(cur.VersionID), cur.Value.MaskedKey(), humantime.Span(window))
			short = "rotated after ExpiredToken"
			break
		}
		action = "no rotation: " + out.Decision.Reason + ". The consumer must re-read the secret (AWSCURRENT)"
		short = "stale consumer"
	case Recent:
		action = "no rotation: " + out.Decision.Reason
		short = "already rotated"
	case Inform:
		action = "no rotation: " + out.Decision.Reason
		short = "ExpiredToken with valid credentials"
	case Unmatched:
		action = "alert only: " + out.Decision.Reason
		short = "unmatched ExpiredToken report"
	}
	// The reason and the rotator's answer are stsrotator's words, but
	// AWS error text can reach them; Clean keeps them on this one line.
	line("Action taken", "%s", Clean(action, 2000))
	if out.Target != "" {
		line("Target", "%s (role %s)", t.Name, t.RoleArn)
		line("Secret", "%s", t.SecretName)
	} else {
		line("Target", "none: the report matched no target its sender may report on")
	}
	line("Signal", "%s", signalFact(s))
	if cur.Exists && cur.ParseErr == nil {
		line("Current", "version %s, key %s, expires %s (%s)", shortID(cur.VersionID), cur.Value.MaskedKey(),
			cur.Value.Expiration.Format(time.RFC3339), humantime.Left(now, cur.Value.Expiration))
		if out.Decision.Action == Stale {
			line("Consumer fix", "re-read %s (version %s) before %s", t.SecretName, shortID(cur.VersionID), cur.Value.Expiration.Format(time.RFC3339))
		}
	}
	if s.Key != "" {
		desc := fmt.Sprintf("%s (%s)", Clean(s.Key, 16), out.Decision.Key)
		if v := failing; v.Exists && v.ParseErr == nil && v.Value.MaskedKey() == s.Key && !v.Value.Meta.IssuedAt.IsZero() {
			desc += fmt.Sprintf(", issued %s, expires %s (%s)", humantime.Since(now, v.Value.Meta.IssuedAt), v.Value.Expiration.Format(time.RFC3339), humantime.Left(now, v.Value.Expiration))
		}
		line("Failing key", "%s", desc)
	}
	if suppressed > 0 {
		line("Suppressed", "%d similar report(s) in the previous %s were not alerted separately", suppressed, humantime.Span(window))
	}
	line("Inspect", "%s", InspectCommand(out.Target))

	fmt.Fprintf(&b, "\nClaimed by %s (not checked by stsrotator):\n", Claimant(s))
	claim := func(label, value string) {
		fmt.Fprintf(&b, "> %-12s %s\n", label+":", value)
	}
	claim("observer", quoted(s.Observer, MaxClaimedField))
	claim("error code", quoted(s.ErrorCode, MaxClaimedField))
	if s.Service != "" || s.Operation != "" {
		claim("call", quoted(s.Service, MaxClaimedField)+" "+quoted(s.Operation, MaxClaimedField))
	}
	if s.Region != "" {
		claim("region", quoted(s.Region, MaxClaimedField))
	}
	if !s.ObservedAt.IsZero() {
		claim("observed at", s.ObservedAt.UTC().Format(time.RFC3339))
	}
	if s.Message != "" {
		claim("message", quoted(s.Message, MaxClaimedMessage))
	}
	if out.Target == "" {
		claim("names", describeIdentity(s))
	}
	subject = fmt.Sprintf("stsrotator: %s — %s", name, short)
	if len(subject) > 100 { // SNS's limit for email subjects
		subject = strings.ToValidUTF8(subject[:97], "") + "..."
	}
	return subject, b.String()
}

// signalFact is what stsrotator itself knows of where a signal came from:
// EventBridge records the account that put a report (the sender cannot
// set it), and CloudTrail's events come only from AWS.
func signalFact(s Signal) string {
	switch {
	case s.Source == FromCloudTrail:
		return "CloudTrail recorded the refused call (source aws.*, which only AWS can send)"
	case s.Account != "":
		return fmt.Sprintf("ExpiredToken report (%s) put on the bus by account %s", s.Source, s.Account)
	}
	return fmt.Sprintf("ExpiredToken report (%s)", s.Source)
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// InspectCommand is the CLI command an alert tells a human to run: the
// target's status row, or every secret's when the target is unknown. The
// CLI's tests run exactly this line.
func InspectCommand(target string) string {
	if target == "" {
		return "stsrotator status"
	}
	return "stsrotator status --target " + target
}
