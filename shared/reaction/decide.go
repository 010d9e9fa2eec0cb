package reaction

import (
	"fmt"
	"time"

	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/expiredcreds"
	"github.com/stsrotator/stsrotator/shared/humantime"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

// DefaultWindow is the debounce window for forced rotations and alerts.
const DefaultWindow = 5 * time.Minute

// Version is one secret version as the reactor sees it.
type Version struct {
	Exists    bool
	VersionID string
	Value     secretfmt.Value
	ParseErr  error
}

func (v Version) usable(now time.Time) bool {
	return v.Exists && v.ParseErr == nil && !v.Value.Expired(now)
}

// Action is what the reactor does about a signal.
type Action string

const (
	// Force: the failing credentials are the current ones and they are
	// expired or near expiry (or the current version is unusable).
	Force Action = "force-rotation"
	// Stale: the consumer holds an older version while the current one is
	// valid; re-reading the secret fixes it.
	Stale Action = "stale-consumer"
	// Recent: a rotation already happened inside the window.
	Recent Action = "recently-rotated"
	// Inform: nothing to rotate, but a human should look (e.g. a current,
	// valid key reported as expired points at the consumer's clock).
	Inform Action = "alert-only"
	// Unmatched: no target or no known key matches the report.
	Unmatched Action = "unmatched"
)

// KeyMatch says which version the reported key belongs to.
type KeyMatch string

const (
	KeyNone     KeyMatch = "not reported"
	KeyCurrent  KeyMatch = "current version"
	KeyPrevious KeyMatch = "previous version"
	KeyUnknown  KeyMatch = "no known version"
)

// Decision is the reactor's verdict on one signal for one target.
type Decision struct {
	Action Action
	Key    KeyMatch
	Reason string
	// Replaced marks a Stale decision whose reported key was the current
	// version until a rotation inside the window. That rotation is what
	// was done about the failure — typically this reactor's own, seen
	// again by a Lambda retry after its alert failed to publish — so the
	// alert reports it as the action taken, not just a stale consumer.
	Replaced bool
}

// Decide is pure so every rule is table-tested.
func Decide(now time.Time, t config.Target, s Signal, cur, prev Version, window time.Duration) Decision {
	key := matchKey(s.Key, cur, prev)
	if !cur.usable(now) {
		why := "the current version is missing"
		switch {
		case cur.Exists && cur.ParseErr != nil:
			why = "the current version is not valid credential_process JSON"
		case cur.Exists:
			why = "the current credentials " + humantime.Left(now, cur.Value.Expiration)
		}
		return Decision{Action: Force, Key: key, Reason: why}
	}
	left := cur.Value.Remaining(now)
	sinceIssue := now.Sub(cur.Value.Meta.IssuedAt)
	recent := !cur.Value.Meta.IssuedAt.IsZero() && sinceIssue < window
	switch key {
	case KeyPrevious:
		if recent {
			// AWSPREVIOUS is the version the current one replaced, so the
			// reported key was current until sinceIssue ago.
			return Decision{Action: Stale, Key: key, Replaced: true,
				Reason: fmt.Sprintf("the reported key was replaced %s; the current one has %s", humantime.Since(now, cur.Value.Meta.IssuedAt), humantime.Left(now, cur.Value.Expiration))}
		}
		return Decision{Action: Stale, Key: key, Reason: "the consumer uses the previous version; the current one has " + humantime.Left(now, cur.Value.Expiration)}
	case KeyUnknown:
		return Decision{Action: Unmatched, Key: key, Reason: "the reported key matches neither the current nor the previous version"}
	}
	if left < t.RefreshBefore {
		if recent {
			// Config keeps refreshBefore below the session length minus
			// the write interval, so this only happens with tampered data.
			return Decision{Action: Recent, Key: key, Reason: fmt.Sprintf("rotated %s yet only %s", humantime.Since(now, cur.Value.Meta.IssuedAt), humantime.Left(now, cur.Value.Expiration))}
		}
		return Decision{Action: Force, Key: key, Reason: fmt.Sprintf("the current credentials have only %s (refreshBefore %s)", humantime.Left(now, cur.Value.Expiration), humantime.Span(t.RefreshBefore))}
	}
	// RequestExpired is also AWS's answer to a request signed more than 15
	// minutes away from its time, whatever the credentials:
	// https://docs.aws.amazon.com/awsconsolehelpdocs/latest/gsg/common-errors.html
	skew := expiredcreds.ClockSkew(s.ErrorCode)
	if key == KeyNone {
		if recent {
			return Decision{Action: Recent, Key: key, Reason: fmt.Sprintf("rotated %s; the consumer should re-read the secret", humantime.Since(now, cur.Value.Meta.IssuedAt))}
		}
		why := fmt.Sprintf("the current credentials have %s, so the consumer most likely holds an older copy", humantime.Left(now, cur.Value.Expiration))
		if skew {
			why += fmt.Sprintf(", or its clock is more than 15 minutes off (%s also means that)", s.ErrorCode)
		}
		return Decision{Action: Stale, Key: key, Reason: why}
	}
	if skew {
		return Decision{Action: Inform, Key: key, Reason: fmt.Sprintf("%s with the current key, which has %s: the consumer's clock is off by more than 15 minutes from AWS's; sync it (NTP)",
			s.ErrorCode, humantime.Left(now, cur.Value.Expiration))}
	}
	return Decision{Action: Inform, Key: key, Reason: fmt.Sprintf("the reported key is the current one with %s: check the consumer's clock", humantime.Left(now, cur.Value.Expiration))}
}

func matchKey(masked string, cur, prev Version) KeyMatch {
	switch {
	case masked == "":
		return KeyNone
	case cur.Exists && cur.ParseErr == nil && cur.Value.MaskedKey() == masked:
		return KeyCurrent
	case prev.Exists && prev.ParseErr == nil && prev.Value.MaskedKey() == masked:
		return KeyPrevious
	}
	return KeyUnknown
}
