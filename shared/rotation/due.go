package rotation

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/humantime"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

// Current is what the rotator knows about a target's AWSCURRENT version.
type Current struct {
	// Exists is false when the secret or its AWSCURRENT version is absent.
	Exists bool
	// VersionID identifies the version a new one would supersede.
	VersionID string
	// Created is when Secrets Manager created that version.
	Created time.Time
	// Value is the parsed value; valid only when ParseErr is nil.
	Value    secretfmt.Value
	ParseErr error
}

// Decision says whether to rotate and why, in words fit for a log line.
type Decision struct {
	Due    bool
	Reason string
	// Urgent marks current credentials that are missing, unusable or
	// expired: consumers are already failing, so the write-rate guidance
	// yields.
	Urgent bool
	// NextCheck is when the target will next be due if nothing changes;
	// zero when Due.
	NextCheck time.Time
}

// Decide is the due decision. It is pure so every rule is table-tested.
func Decide(now time.Time, t config.Target, cur Current, jitter time.Duration, force bool) Decision {
	switch {
	case !cur.Exists:
		return Decision{Due: true, Urgent: true, Reason: "no current secret version"}
	case cur.ParseErr != nil:
		return Decision{Due: true, Urgent: true, Reason: "current version is unusable: " + cur.ParseErr.Error()}
	case cur.Value.Expired(now):
		return Decision{Due: true, Urgent: true, Reason: "current credentials " + humantime.Left(now, cur.Value.Expiration)}
	}
	dueAt := RefreshAt(t, cur.Value.Expiration, jitter)
	// The rotator's own issue time is preferred over Secrets Manager's
	// CreatedDate: both mark the last write, but IssuedAt comes from the
	// same clock as now.
	written := cur.Created
	if !cur.Value.Meta.IssuedAt.IsZero() {
		written = cur.Value.Meta.IssuedAt
	}
	sinceWrite := now.Sub(written)
	writeOK := written.IsZero() || sinceWrite >= config.MinWriteInterval
	switch {
	case !writeOK && (force || !now.Before(dueAt)):
		// Config validation keeps refreshBefore at least 10 minutes short of
		// the session, so this only holds back forced or duplicate requests.
		return Decision{Reason: fmt.Sprintf("last written %s; AWS advises at most one write per secret per %s, next write allowed %s",
			humantime.Since(now, written), humantime.Span(config.MinWriteInterval), humantime.Until(now, written.Add(config.MinWriteInterval))), NextCheck: written.Add(config.MinWriteInterval)}
	case force:
		return Decision{Due: true, Reason: "forced with " + humantime.Left(now, cur.Value.Expiration)}
	case !now.Before(dueAt):
		return Decision{Due: true, Reason: fmt.Sprintf("%s, below refreshBefore %s", humantime.Left(now, cur.Value.Expiration), humantime.Span(t.RefreshBefore))}
	}
	return Decision{Reason: "fresh: " + humantime.Left(now, cur.Value.Expiration), NextCheck: dueAt}
}

// RefreshAt is when credentials expiring at exp become due. The jitter
// offset is stable per target, so a target's schedule does not wander
// between sweeps but targets declared together still spread out.
func RefreshAt(t config.Target, exp time.Time, jitter time.Duration) time.Time {
	return exp.Add(-t.RefreshBefore - JitterOffset(t.Name, jitter))
}

// JitterOffset maps a target name to [0, jitter).
func JitterOffset(name string, jitter time.Duration) time.Duration {
	if jitter <= 0 {
		return 0
	}
	h := sha256.Sum256([]byte("stsrotator/jitter/" + name))
	return time.Duration(binary.BigEndian.Uint64(h[:8]) % uint64(jitter))
}

// Token derives the ClientRequestToken for the version that supersedes
// prev (empty for a target's first version). Every attempt to replace the
// same version uses the same token, so Secrets Manager keeps at most one
// new version: a retry with the same data is a no-op, and a concurrent
// duplicate with different credentials is refused with
// ResourceExistsException instead of stacking a second version.
func Token(secretName, prev string) string {
	h := sha256.Sum256([]byte("stsrotator/v1\x00" + secretName + "\x00" + prev))
	// UUID layout (version 8: custom) because Secrets Manager documents
	// the token as a UUID-type value of 32–64 characters.
	h[6] = h[6]&0x0f | 0x80
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}
