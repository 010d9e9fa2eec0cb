package rotation

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sort"
	"strconv"
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
	// VersionDates, when not nil, are the CreatedDate of every version
	// Secrets Manager lists for the secret (ListSecretVersionIds,
	// versions without labels included): Secrets Manager's own record of
	// the writes its version quota counts. The engine reads them only
	// when the history the value carries (Writes) would hold a write back,
	// because anyone who can write the secret can forge that history;
	// once read they are what the quota is counted from.
	VersionDates []time.Time
	// quotaUnchecked: the history would hold back the write of a version
	// that is missing, unusable, expired or revoked, and VersionDates
	// could not be read. The write is tried: Secrets Manager refuses one
	// over its quota itself, and a stored history must never keep denied
	// credentials in place.
	quotaUnchecked bool
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
	// HeldUntil is set when a due write is held back by Secrets Manager's
	// version quota (config.MaxVersionsPerDay in any rolling 24 hours):
	// the time the oldest counted write ages out and a write is allowed
	// again.
	HeldUntil time.Time
	// WriteAllowedAt is set when a due or forced write is held back by
	// AWS's write-rate guidance (config.MinWriteInterval since the last
	// write, credentials still valid): when the next write is allowed.
	WriteAllowedAt time.Time
}

// Writes is the write history the current version carries
// (secretfmt.Metadata.Writes), or nil when it carries none.
func (c Current) Writes() []time.Time {
	if !c.Exists || c.ParseErr != nil {
		return nil
	}
	return c.Value.Meta.Writes
}

// counted is what the version quota is counted from: Secrets Manager's
// version dates once read, else the stored history.
func (c Current) counted() []time.Time {
	if c.VersionDates != nil {
		return c.VersionDates
	}
	return c.Writes()
}

// WritesAhead lists the writes stamped more than ClockSkew after now. No
// rotator wrote them (its writes carry its own clock's time), so QuotaHold
// and History ignore them; the engine logs them.
func WritesAhead(now time.Time, writes []time.Time) []time.Time {
	var out []time.Time
	for _, w := range writes {
		if w.Sub(now) > ClockSkew {
			out = append(out, w)
		}
	}
	return out
}

// VersionDay is the window Secrets Manager protects versions for: it "does
// not remove versions created less than 24 hours ago".
// https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html
const VersionDay = 24 * time.Hour

// ScheduleReserve is how many of the versions Secrets Manager allows in
// 24 hours a write due only because it was forced (the reactor's,
// `stsrotator rotate`) must leave to the schedule: as many as the
// schedule can write in 24 hours, one per session − refreshBefore −
// jitter (96 at the worst config the validator accepts, 45 for one-hour
// sessions with the defaults).
//
// That keeps the schedule from ever being held back: the last forced
// write f in any 24 hours ending at a scheduled write found fewer than
// 100 − reserve writes in the 24 hours before it, and after f only
// scheduled writes follow, at most reserve of them in under 24 hours. A
// storm of forced rotations therefore cannot stop the rotation that keeps
// the secret valid.
func ScheduleReserve(t config.Target, jitter time.Duration) int {
	every := t.Duration - t.RefreshBefore - jitter
	if every <= 0 {
		return config.MaxVersionsPerDay
	}
	return min(int((VersionDay+every-1)/every), config.MaxVersionsPerDay)
}

// QuotaHold counts the writes in the rolling 24 hours before now (writes
// stamped up to ClockSkew after now count too; later ones are no clock
// skew but a forged or damaged history, and are ignored: counting them
// held an expired secret's rotation for two days) and, when one more
// would exceed limit (config.MaxVersionsPerDay, less ScheduleReserve for
// a write due only because it was forced), returns when it becomes
// allowed: the moment enough of them are older than 24 hours. Zero means
// a write is allowed now.
func QuotaHold(now time.Time, writes []time.Time, limit int) (count int, allowedAt time.Time) {
	var within []time.Time
	for _, w := range writes {
		if now.Sub(w) < VersionDay && w.Sub(now) <= ClockSkew {
			within = append(within, w)
		}
	}
	if len(within) < limit {
		return len(within), time.Time{}
	}
	sort.Slice(within, func(i, j int) bool { return within[i].Before(within[j]) })
	return len(within), within[len(within)-limit].Add(VersionDay)
}

// History is the write history to store with a version written at
// issued: every write in writes from the 24 hours before it, then issued,
// sorted and without duplicates, at most config.MaxVersionsPerDay of
// them (older ones cannot matter to the quota check). Writes stamped more
// than ClockSkew after issued are dropped, so a forged stamp is not
// carried forward.
func History(issued time.Time, writes ...[]time.Time) []time.Time {
	var out []time.Time
	seen := map[int64]bool{issued.UnixNano(): true}
	for _, list := range writes {
		for _, w := range list {
			if issued.Sub(w) < VersionDay && w.Sub(issued) <= ClockSkew && !seen[w.UnixNano()] {
				seen[w.UnixNano()] = true
				out = append(out, w.UTC())
			}
		}
	}
	out = append(out, issued.UTC())
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	if len(out) > config.MaxVersionsPerDay {
		out = out[len(out)-config.MaxVersionsPerDay:]
	}
	return out
}

// heldReason explains a write held back by the version quota.
func heldReason(now time.Time, count, limit int, allowedAt time.Time) string {
	of := ""
	if limit < config.MaxVersionsPerDay {
		of = fmt.Sprintf(" and a forced rotation may add one only while fewer than %d are (%d are kept for the schedule)", limit, config.MaxVersionsPerDay-limit)
	}
	return fmt.Sprintf("held back: %d versions written in the last 24h%s; Secrets Manager keeps every version younger than 24 h and refuses new ones past about %d (quota), so the next write is allowed at %s (%s)",
		count, of, config.MaxVersionsPerDay, allowedAt.UTC().Format(time.RFC3339), humantime.Until(now, allowedAt))
}

// Decide is the due decision. It is pure so every rule is table-tested.
// A due write that Secrets Manager's version quota does not allow yet is
// returned not due, with HeldUntil set and Urgent kept, whatever made it
// due: forced and urgent writes count against the quota like any other.
func Decide(now time.Time, t config.Target, cur Current, jitter time.Duration, force bool) Decision {
	d := decide(now, t, cur, jitter, force)
	if !d.Due {
		return d
	}
	return held(now, t, cur, jitter, d)
}

// DecideRevoked is the decision for a current version Revoked by cutoff:
// its credentials are denied, so consumers are failing and it is replaced
// whatever its age (the ten-minute write guidance yields). Unless the
// version is also missing, unusable, expired or due on schedule, the
// write is due only because of the cutoff and counts against the forced
// share of the version quota (less ScheduleReserve), like a forced one:
// no number of invocations with cutoffs can hold the schedule back.
func DecideRevoked(now time.Time, t config.Target, cur Current, jitter time.Duration, cutoff time.Time) Decision {
	return held(now, t, cur, jitter, Decision{Due: true, Urgent: true,
		Reason: fmt.Sprintf("current credentials were issued before the revocation cutoff %s and are denied", cutoff.UTC().Format(time.RFC3339))})
}

// QuotaLimit is how many versions in 24 hours a due write may find and
// still be written: config.MaxVersionsPerDay when the schedule would write
// now anyway (the current version is missing, unusable, expired or past
// its refresh point), less ScheduleReserve when only a force or a cutoff
// makes it due.
func QuotaLimit(now time.Time, t config.Target, cur Current, jitter time.Duration) int {
	if decide(now, t, cur, jitter, false).Due {
		return config.MaxVersionsPerDay
	}
	return config.MaxVersionsPerDay - ScheduleReserve(t, jitter)
}

// held turns a due decision d into a held one when the version quota
// does not allow the write yet.
func held(now time.Time, t config.Target, cur Current, jitter time.Duration, d Decision) Decision {
	if cur.quotaUnchecked && d.Urgent {
		return d
	}
	limit := QuotaLimit(now, t, cur, jitter)
	if n, at := QuotaHold(now, cur.counted(), limit); !at.IsZero() {
		return Decision{Urgent: d.Urgent, HeldUntil: at, NextCheck: at, Reason: d.Reason + ", but " + heldReason(now, n, limit, at)}
	}
	return d
}

func decide(now time.Time, t config.Target, cur Current, jitter time.Duration, force bool) Decision {
	switch {
	case !cur.Exists:
		return Decision{Due: true, Urgent: true, Reason: "no current secret version"}
	case cur.ParseErr != nil:
		return Decision{Due: true, Urgent: true, Reason: "current version is unusable: " + cur.ParseErr.Error()}
	case cur.Value.Expired(now):
		return Decision{Due: true, Urgent: true, Reason: "current credentials " + humantime.Left(now, cur.Value.Expiration)}
	}
	if why := Foreign(now, t, cur.Value); why != "" {
		return Decision{Due: true, Urgent: true, Reason: "current version is unusable: " + why}
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
			humantime.Since(now, written), humantime.Span(config.MinWriteInterval), humantime.Until(now, written.Add(config.MinWriteInterval))), NextCheck: written.Add(config.MinWriteInterval), WriteAllowedAt: written.Add(config.MinWriteInterval)}
	case force:
		return Decision{Due: true, Reason: "forced with " + humantime.Left(now, cur.Value.Expiration)}
	case !now.Before(dueAt):
		return Decision{Due: true, Reason: fmt.Sprintf("%s, below refreshBefore %s", humantime.Left(now, cur.Value.Expiration), humantime.Span(t.RefreshBefore))}
	}
	return Decision{Reason: "fresh: " + humantime.Left(now, cur.Value.Expiration), NextCheck: dueAt}
}

// Foreign says why v cannot be a version this rotator wrote for t, or ""
// when it can be. Anyone the secret's resource policy lets write can put
// any well-formed value there, and Decide reads only the value: credentials
// "expiring" years from now were fresh forever (and no revocation cutoff
// could count them as issued before it), an issuedAt ahead of the clock
// held every write behind the write-rate guidance, and another target's
// credentials stood until their own refresh point. Such a version is
// unusable, replaced at once like a missing one:
//   - Expiration more than t.Duration (+ ClockSkew) from now: STS issues
//     no session of this target for longer (DurationSeconds); a config
//     that shortened durationSeconds also replaces the longer version once;
//   - issuedAt more than ClockSkew ahead of now (the rotator stamps its
//     own clock);
//   - metadata naming another target or another role (a roleArn changed
//     in the config is therefore applied at the next sweep). A value with
//     no metadata (written by hand or before it existed) passes: its
//     expiry is bounded by the first rule.
//
// https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html (DurationSeconds)
func Foreign(now time.Time, t config.Target, v secretfmt.Value) string {
	switch m := v.Meta; {
	case v.Expiration.Sub(now) > t.Duration+ClockSkew:
		return fmt.Sprintf("its credentials expire %s, later than a session of this target (durationSeconds %d) could last", v.Expiration.UTC().Format(time.RFC3339), int64(t.Duration/time.Second))
	case m.IssuedAt.Sub(now) > ClockSkew:
		return fmt.Sprintf("its issuedAt %s is ahead of the rotator's clock", m.IssuedAt.UTC().Format(time.RFC3339))
	case m.Target != "" && m.Target != t.Name:
		return fmt.Sprintf("it was written for target %s", quoted(m.Target, config.MaxNameLen))
	case m.RoleArn != "" && !sameRole(m.RoleArn, t.RoleArn):
		return fmt.Sprintf("its credentials are for role %s, not %s", quoted(m.RoleArn, 2048), t.RoleArn)
	}
	return ""
}

// quoted shows s, which whoever wrote the secret chose, as a Go-quoted
// string when it is at most n bytes (escaping any control character), and
// only its length otherwise: the reason is logged and announced for every
// sweep that finds it.
func quoted(s string, n int) string {
	if len(s) > n {
		return fmt.Sprintf("(a name of %d bytes)", len(s))
	}
	return strconv.Quote(s)
}

// sameRole reports whether two role ARNs name one role: partition and
// account exactly, the name by config.SameRoleName, the path ignored.
func sameRole(a, b string) bool {
	ia, errA := ExpectedIdentity(a, "s")
	ib, errB := ExpectedIdentity(b, "s")
	if errA != nil || errB != nil {
		return a == b
	}
	return SameIdentity(ia, ib)
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
//
// attempt counts the times prev has been superseded and then made
// AWSCURRENT again (a rollback with UpdateSecretVersionStage): the token
// of attempt 0 then names a version that already exists and is no longer
// current, and reusing it would be refused forever. The engine moves to
// the next attempt only after checking that AWSCURRENT is still prev, so
// duplicates still meet on one token. Attempt 0 is the token earlier
// releases derived.
func Token(secretName, prev string, attempt int) string {
	seed := "stsrotator/v1\x00" + secretName + "\x00" + prev
	if attempt > 0 {
		seed += fmt.Sprintf("\x00%d", attempt)
	}
	h := sha256.Sum256([]byte(seed))
	// UUID layout (version 8: custom) because Secrets Manager documents
	// the token as a UUID-type value of 32–64 characters.
	h[6] = h[6]&0x0f | 0x80
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}
