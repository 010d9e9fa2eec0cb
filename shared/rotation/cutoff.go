package rotation

import (
	"errors"
	"fmt"
	"time"

	"github.com/stsrotator/stsrotator/shared/config"
)

// ClockSkew is how far ahead of the rotator's clock a time stamped
// elsewhere may be and still be believed: a revocation cutoff
// (Invocation.RevokedBefore) or a write in a secret's history
// (secretfmt.Metadata.Writes). Clock skew only: `stsrotator revoke` takes
// its cutoff from AWS's clock (an AWS response's Date header) and invokes
// the rotator only once AWS's clock has passed it, and Lambda's clocks
// follow AWS's. A cutoff further ahead would make every version written
// until then count as revoked, each invocation an urgent write: it is
// refused (ErrFutureCutoff) before anything is read or written. A write
// stamped further ahead is no write this rotator could have made: it is
// not counted (QuotaHold) and is logged.
const ClockSkew = 5 * time.Second

// ErrFutureCutoff marks a revocation cutoff later than the rotator's
// clock plus ClockSkew.
var ErrFutureCutoff = errors.New("revocation cutoff is in the future")

// CheckCutoff refuses a cutoff more than ClockSkew after now; zero
// (no revocation) and past cutoffs pass.
func CheckCutoff(now, cutoff time.Time) error {
	if cutoff.IsZero() || !cutoff.After(now.Add(ClockSkew)) {
		return nil
	}
	return fmt.Errorf("%w: revokedBefore %s is %s ahead of the rotator's clock (%s), more than the %s of clock skew allowed; a cutoff names a moment that has passed (stsrotator revoke takes it from AWS's clock), nothing was written (fix: send the time the revocation policy took effect, or run stsrotator revoke)",
		ErrFutureCutoff, cutoff.UTC().Format(time.RFC3339Nano), cutoff.Sub(now).Round(time.Millisecond), now.UTC().Format(time.RFC3339Nano), ClockSkew)
}

// policyCutoff is the cutoff as the revocation policy holds it: IAM's
// aws:TokenIssueTime and the policy's DateLessThan are to the second
// (revocation.DocumentOf truncates), so a session issued in the cutoff's
// second is not denied and must not count as revoked either.
func policyCutoff(cutoff time.Time) time.Time { return cutoff.Truncate(time.Second) }

// Revoked reports whether cur's credentials were issued before a
// revocation's cutoff (zero: no revocation). The issue time is the
// earlier of the rotator's IssuedAt (taken after STS answered) and
// Expiration minus the session duration (STS's own clock), so a version
// minted around the cutoff counts as revoked rather than slipping through;
// a version without IssuedAt is also dated by its CreatedDate, so
// credentials planted with a later Expiration are not taken for new ones.
//
// Once a version issued at or after the cutoff is AWSCURRENT, Revoked is
// false for that cutoff: one cutoff forces at most one write, however
// often it is sent.
func Revoked(t config.Target, cur Current, cutoff time.Time) bool {
	if cutoff.IsZero() || !cur.Exists || cur.ParseErr != nil {
		return false
	}
	issued := cur.Value.Expiration.Add(-t.Duration)
	if at := cur.Value.Meta.IssuedAt; !at.IsZero() && at.Before(issued) {
		issued = at
	} else if at.IsZero() && !cur.Created.IsZero() && cur.Created.Before(issued) {
		// No rotator stamped it: whoever wrote the version chose its
		// Expiration, but the credentials in it were issued no later
		// than Secrets Manager created the version (its own clock).
		issued = cur.Created
	}
	return issued.Before(policyCutoff(cutoff))
}
