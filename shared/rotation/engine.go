package rotation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"

	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/events"
	"github.com/stsrotator/stsrotator/shared/humantime"
	"github.com/stsrotator/stsrotator/shared/metrics"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
	"github.com/stsrotator/stsrotator/shared/sourcekey"
)

// STS is the narrowest STS surface the engine needs, with the SDK's exact
// signatures so *sts.Client satisfies it.
type STS interface {
	AssumeRole(context.Context, *sts.AssumeRoleInput, ...func(*sts.Options)) (*sts.AssumeRoleOutput, error)
	GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

// Secrets is the narrowest Secrets Manager surface the engine needs.
type Secrets interface {
	GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	PutSecretValue(context.Context, *secretsmanager.PutSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	CreateSecret(context.Context, *secretsmanager.CreateSecretInput, ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error)
	// ListSecretVersionIds is read only when the secret's stored write
	// history would hold a write back (Current.VersionDates).
	ListSecretVersionIds(context.Context, *secretsmanager.ListSecretVersionIdsInput, ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretVersionIdsOutput, error)
}

// VerifyMode selects how strictly new credentials are checked.
type VerifyMode string

const (
	// VerifyIdentity (the default) requires GetCallerIdentity, called with
	// the new credentials, to return exactly the assumed-role ARN for the
	// target's role and session.
	VerifyIdentity VerifyMode = "identity"
	// VerifyCaller only requires STS to accept the new credentials. It
	// exists for emulators that answer every caller with one fixed
	// identity (kumo answers as its root account); never use it on AWS.
	VerifyCaller VerifyMode = "caller"
)

// ParseVerifyMode reads the mode from configuration; empty is the default.
func ParseVerifyMode(s string) (VerifyMode, error) {
	switch VerifyMode(s) {
	case "", VerifyIdentity:
		return VerifyIdentity, nil
	case VerifyCaller:
		return VerifyCaller, nil
	}
	return "", fmt.Errorf("verify mode %q: want %q (AWS) or %q (emulators only)", s, VerifyIdentity, VerifyCaller)
}

// Tags the rotator puts on secrets it creates, so policies can scope to
// what stsrotator owns.
const (
	TagManagedBy = config.ReservedTagPrefix + "managed-by"
	TagTarget    = config.ReservedTagPrefix + "target"
	ManagedBy    = "stsrotator"
)

// Engine rotates targets. Its fields are set once at start-up.
type Engine struct {
	STS     STS
	Secrets Secrets
	// Now is the clock; tests move it.
	Now    func() time.Time
	Log    *slog.Logger
	Emit   *metrics.Writer
	Verify VerifyMode
	// KMSKeyID encrypts secrets the engine creates; empty uses the
	// account's aws/secretsmanager key.
	KMSKeyID string
	// Jitter brings each target's rotation forward by a stable offset in
	// [0, Jitter).
	Jitter time.Duration
	// ReportBus is written into every secret's metadata (reportBus): the
	// bus ARN consumers send ExpiredToken reports to. Empty writes none.
	ReportBus string
	// Events announces rotations and failures on EventBridge; nil
	// announces nothing. A failed announcement is counted
	// (metrics.EventPublishFailures) and logged, never a failed rotation.
	Events *events.Emitter
	// Source signs the AssumeRole calls of targets with
	// `sourceCredentials: iam-user` (the deployment's IAM user's key,
	// sourcekey.Provider); nil when no target of this rotator uses it.
	Source aws.CredentialsProvider
	// Sleep waits for d or until ctx ends; nil is sourcekey.Wait. The
	// engine waits only for a revocation cutoff at most ClockSkew
	// ahead of its clock, so the credentials it mints are not issued
	// before the cutoff (and denied) too.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Outcome classifies one attempt.
type Outcome string

const (
	Rotated Outcome = "rotated"
	Fresh   Outcome = "fresh"
	// Superseded: another invocation replaced the same version first, and
	// its version is AWSCURRENT and usable (anything else is Failed).
	Superseded Outcome = "superseded"
	Failed     Outcome = "failed"
)

// Result is the outcome of one attempt, safe to log: it carries no secret
// material.
type Result struct {
	Target    string        `json:"target"`
	Outcome   Outcome       `json:"outcome"`
	Reason    string        `json:"reason"`
	VersionID string        `json:"versionId,omitempty"`
	SecretArn string        `json:"secretArn,omitempty"`
	Key       string        `json:"key,omitempty"` // masked
	Expires   time.Time     `json:"expires,omitzero"`
	Left      time.Duration `json:"-"`
	LeftSec   int64         `json:"validitySeconds"`
	// HeldUntil is set when Secrets Manager's version quota held a due or
	// forced write back: when the next write is allowed.
	HeldUntil time.Time `json:"heldUntil,omitzero"`
	// WriteAllowedAt is set when AWS's write-rate guidance (one write per
	// secret per config.MinWriteInterval) held a due or forced write back
	// while the current credentials are valid: when the next is allowed.
	WriteAllowedAt time.Time `json:"writeAllowedAt,omitzero"`
	Err            error     `json:"-"`
}

// Request asks for one target's rotation.
type Request struct {
	Force bool
	// Why is recorded in logs; e.g. "schedule", "expired-token report".
	Why string
	// Cause is announced in lifecycle events; empty means CauseForced
	// with Force, else CauseSchedule.
	Cause events.Cause
	// RevokedBefore is a revocation's cutoff: current credentials issued
	// before it are denied by the target role, so they count as unusable
	// and are replaced whatever their age.
	RevokedBefore time.Time
}

// cause is the request's Cause with its default filled in.
func (r Request) cause() events.Cause {
	switch {
	case r.Cause != "":
		return r.Cause
	case !r.RevokedBefore.IsZero():
		return events.CauseRevoke
	case r.Force:
		return events.CauseForced
	}
	return events.CauseSchedule
}

// Rotate brings one target up to date. It never returns an error: every
// failure is a Failed result, so one target cannot stop a sweep.
func (e *Engine) Rotate(ctx context.Context, t config.Target, req Request) Result {
	start := e.Now()
	if err := CheckCutoff(start, req.RevokedBefore); err != nil {
		// A refused request, not a failed rotation: nothing was read or
		// written, so no lifecycle event (and no alert) follows.
		e.Emit.PutTarget(t.Name, metrics.RevocationCutoffsRefused, 1, metrics.Count)
		e.Emit.Put(metrics.RevocationCutoffsRefused, 1, metrics.Count, nil)
		e.Log.ErrorContext(ctx, "refused", slog.String("target", t.Name), slog.String("why", req.Why), slog.String("error", err.Error()))
		return Result{Target: t.Name, Outcome: Failed, Reason: err.Error(), Err: err}
	}
	res, cur := e.rotate(ctx, t, req)
	res.Target = t.Name
	if !res.Expires.IsZero() {
		res.Left = res.Expires.Sub(e.Now())
		res.LeftSec = int64(res.Left / time.Second)
		e.Emit.PutTarget(t.Name, metrics.ValiditySeconds, float64(res.LeftSec), metrics.Seconds)
	}
	attrs := []any{
		slog.String("target", t.Name), slog.String("outcome", string(res.Outcome)), slog.String("reason", res.Reason),
		slog.String("why", req.Why), slog.Int64("validitySeconds", res.LeftSec), slog.Duration("took", e.Now().Sub(start)),
	}
	if res.Key != "" {
		attrs = append(attrs, slog.String("key", res.Key), slog.String("versionId", res.VersionID), slog.Time("expires", res.Expires))
	}
	switch res.Outcome {
	case Rotated:
		e.Emit.PutTarget(t.Name, metrics.Rotations, 1, metrics.Count)
		e.Log.InfoContext(ctx, "rotated", attrs...)
	case Failed:
		e.Emit.PutTarget(t.Name, metrics.RotationFailures, 1, metrics.Count)
		// AWS errors are copied whole; a key quoted in one is masked.
		attrs = append(attrs, slog.String("error", events.MaskKeys(res.Err.Error())))
		e.Log.ErrorContext(ctx, "rotation failed", attrs...)
	default:
		e.Log.InfoContext(ctx, string(res.Outcome), attrs...)
	}
	e.announce(ctx, t, req, res, cur)
	return res
}

// announce publishes the attempt's lifecycle event, if it has one.
func (e *Engine) announce(ctx context.Context, t config.Target, req Request, res Result, cur *Current) {
	if e.Events == nil {
		return
	}
	now := e.Now()
	var d events.Lifecycle
	switch res.Outcome {
	case Rotated:
		r := events.Rotated{SchemaVersion: events.LifecycleSchemaVersion, Target: t.Name, SecretArn: res.SecretArn, VersionID: res.VersionID,
			AccessKeyID: res.Key, Expiration: res.Expires, Why: req.cause(), RotatedAt: now}
		if cur != nil && cur.Exists {
			r.Previous = versionRef(now, t, *cur, req.RevokedBefore)
		}
		d = r
	case Failed:
		f := events.RotationFailed{SchemaVersion: events.LifecycleSchemaVersion, Target: t.Name, Reason: events.MaskKeys(res.Reason), Why: req.cause(), FailedAt: now}
		if cur != nil && cur.Exists {
			if f.Current = versionRef(now, t, *cur, req.RevokedBefore); f.Current.StillValid {
				f.CurrentValidSeconds = int64(cur.Value.Remaining(now) / time.Second)
			}
		}
		d = f
	default:
		return
	}
	if _, err := e.Events.Emit(ctx, d); err != nil {
		// Undimensioned, like the reactor's: one alarm watches them all.
		e.Emit.Put(metrics.EventPublishFailures, 1, metrics.Count, nil)
		e.Log.WarnContext(ctx, "lifecycle event not published", slog.String("target", t.Name),
			slog.String("detailType", d.DetailType()), slog.String("error", events.MaskKeys(err.Error())))
	}
}

// versionRef describes a version for an event; StillValid is false once
// it is expired or was issued before a revocation.
func versionRef(now time.Time, t config.Target, cur Current, revokedBefore time.Time) *events.VersionRef {
	ref := &events.VersionRef{VersionID: cur.VersionID}
	if cur.ParseErr != nil {
		return ref
	}
	ref.AccessKeyID, ref.Expiration = cur.Value.MaskedKey(), cur.Value.Expiration
	ref.StillValid = !cur.Value.Expired(now) && !Revoked(t, cur, revokedBefore)
	return ref
}

func (e *Engine) rotate(ctx context.Context, t config.Target, req Request) (Result, *Current) {
	cur, err := e.current(ctx, t)
	if err != nil {
		return failed(fmt.Errorf("read secret %s: %w", t.SecretName, err)), nil
	}
	now := e.Now()
	if ahead := WritesAhead(now, cur.Writes()); len(ahead) > 0 {
		e.Log.WarnContext(ctx, "write history holds times ahead of the rotator's clock; not counted", slog.String("target", t.Name),
			slog.Int("ahead", len(ahead)), slog.Time("latest", slices.MaxFunc(ahead, time.Time.Compare)), slog.Duration("clockSkew", ClockSkew), slog.String("versionId", cur.VersionID))
	}
	revoked := Revoked(t, cur, req.RevokedBefore)
	decide := func() Decision {
		if revoked {
			return DecideRevoked(now, t, cur, e.Jitter, req.RevokedBefore)
		}
		return Decide(now, t, cur, e.Jitter, req.Force)
	}
	d := decide()
	if !d.HeldUntil.IsZero() && cur.VersionDates == nil {
		// The history stored in the secret would hold the write back:
		// Secrets Manager's own version dates decide instead.
		cur.quotaUnchecked = !e.readVersionDates(ctx, t, &cur, now)
		d = decide()
	}
	if !d.HeldUntil.IsZero() {
		e.Emit.PutTarget(t.Name, metrics.VersionQuotaHeld, 1, metrics.Count)
		e.Emit.Put(metrics.VersionQuotaHeld, 1, metrics.Count, nil)
		if d.Urgent || !req.Force {
			// Consumers are failing, or about to: this is a failure to
			// rotate, not a request politely declined.
			r := failed(fmt.Errorf("%w: %s", ErrVersionQuota, d.Reason))
			r.HeldUntil = d.HeldUntil
			return r, &cur
		}
	}
	if !d.Due {
		r := Result{Outcome: Fresh, Reason: d.Reason, HeldUntil: d.HeldUntil, WriteAllowedAt: d.WriteAllowedAt}
		if cur.Exists && cur.ParseErr == nil {
			r.Key, r.Expires, r.VersionID = cur.Value.MaskedKey(), cur.Value.Expiration, cur.VersionID
		}
		return r, &cur
	}

	if revoked {
		// A cutoff up to ClockSkew ahead is clock skew: wait it out,
		// and a second more (TokenIssueTime and Expiration are to the
		// second, and STS's clock is not the rotator's), so the new
		// session is not issued before the cutoff as well and this cutoff
		// forces nothing more. Concurrent invocations that wait together
		// still meet on one ClientRequestToken: one version.
		if c, now := policyCutoff(req.RevokedBefore), e.Now(); c.After(now) {
			wait := c.Add(time.Second).Sub(now)
			sleep := e.Sleep
			if sleep == nil {
				sleep = sourcekey.Wait
			}
			if err := sleep(ctx, wait); err != nil {
				return failed(fmt.Errorf("wait %s for the revocation cutoff: %w", wait, err)), &cur
			}
		}
	}
	opts := []func(*sts.Options){e.stsRegion(t)}
	if t.SourceCredentials == config.SourceIAMUser {
		if e.Source == nil {
			return failed(fmt.Errorf("target %s has sourceCredentials: iam-user, but this rotator has no source key (the stack sets it when some target asks for it; redeploy)", t.Name)), &cur
		}
		// Signed with the IAM user's key, AssumeRole is not role chaining
		// and may last up to the role's MaxSessionDuration (12 h at most).
		opts = append(opts, func(o *sts.Options) { o.Credentials = e.Source })
	}
	out, err := e.STS.AssumeRole(ctx, assumeInput(t), opts...)
	if err != nil {
		return failed(fmt.Errorf("assume role %s: %w", t.RoleArn, err)), &cur
	}
	if out.Credentials == nil || out.Credentials.Expiration == nil || out.AssumedRoleUser == nil {
		return failed(fmt.Errorf("assume role %s: response has no credentials", t.RoleArn)), &cur
	}
	identity, err := e.verify(ctx, t, out)
	if err != nil {
		return failed(fmt.Errorf("verify credentials for %s: %w", t.RoleArn, err)), &cur
	}
	issued := e.Now()
	val := secretfmt.Value{
		AccessKeyID:     aws.ToString(out.Credentials.AccessKeyId),
		SecretAccessKey: aws.ToString(out.Credentials.SecretAccessKey),
		SessionToken:    aws.ToString(out.Credentials.SessionToken),
		// Stored exactly as STS returned it, to the second, so consumers
		// never believe credentials live longer than they do.
		Expiration: out.Credentials.Expiration.UTC().Truncate(time.Second),
		Meta: secretfmt.Metadata{
			Target:    t.Name,
			RoleArn:   t.RoleArn,
			Identity:  identity,
			IssuedAt:  issued,
			ReportBus: e.ReportBus,
		},
	}
	val.Meta.RefreshAt = RefreshAt(t, val.Expiration, e.Jitter)
	return e.store(ctx, t, cur, d, val), &cur
}

// MaxAttempts bounds how many rollbacks of one version the rotator steps
// over (Token's attempt) before it reports a failure instead.
const MaxAttempts = 32

// ErrVersionQuota marks a write held back by Secrets Manager's version
// quota; ErrNotCurrent a write that lost its token to a version that is
// not AWSCURRENT and usable.
var (
	ErrVersionQuota = errors.New("secret version quota")
	ErrNotCurrent   = errors.New("the winning version is not AWSCURRENT and usable")
)

// store writes val as the version that supersedes cur. The token is
// derived from cur's version, so a retry or a duplicate invocation meets
// the version already written instead of adding one. When the token is
// taken, what Secrets Manager holds decides:
//   - the token's version is AWSCURRENT and usable: a concurrent
//     invocation won; Superseded.
//   - AWSCURRENT is still cur: the token's version was written, then
//     AWSCURRENT was moved back to cur by someone else (a rollback). The
//     write moves to the next attempt's token, counting that version's
//     writes against the quota.
//   - anything else: AWSCURRENT changed since this invocation read it. If
//     the version there now is usable it stands (Superseded); if not, the
//     attempt fails, and the next sweep starts from what is there.
//
// Superseded is only ever reported for a version that is AWSCURRENT and
// usable; every other outcome of a taken token is a failure with
// metrics.SupersededNotCurrent.
func (e *Engine) store(ctx context.Context, t config.Target, cur Current, d Decision, val secretfmt.Value) Result {
	now, prior := e.Now(), cur.counted()
	for attempt := 0; attempt < MaxAttempts; attempt++ {
		n, at := QuotaHold(now, prior, config.MaxVersionsPerDay)
		if !at.IsZero() && cur.VersionDates == nil && !cur.quotaUnchecked {
			if cur.quotaUnchecked = !e.readVersionDates(ctx, t, &cur, now); !cur.quotaUnchecked {
				prior = cur.VersionDates
				n, at = QuotaHold(now, prior, config.MaxVersionsPerDay)
			}
		}
		val.Meta.Writes = History(val.Meta.IssuedAt, prior)
		if !at.IsZero() && !(cur.quotaUnchecked && d.Urgent) {
			e.Emit.PutTarget(t.Name, metrics.VersionQuotaHeld, 1, metrics.Count)
			e.Emit.Put(metrics.VersionQuotaHeld, 1, metrics.Count, nil)
			r := failed(fmt.Errorf("%w: %s", ErrVersionQuota, heldReason(now, n, config.MaxVersionsPerDay, at)))
			r.HeldUntil = at
			return r
		}
		body, err := secretfmt.Marshal(val)
		if err != nil {
			return failed(fmt.Errorf("encode secret for %s: %w", t.Name, err))
		}
		token := Token(t.SecretName, cur.VersionID, attempt)
		version, arn, err := e.write(ctx, t, token, string(body), cur.Exists)
		if err == nil {
			reason := d.Reason
			if attempt > 0 {
				reason += fmt.Sprintf(" (AWSCURRENT had been moved back to version %s after the rotator replaced it %d time(s))", short(cur.VersionID), attempt)
			}
			return Result{Outcome: Rotated, Reason: reason, VersionID: version, SecretArn: arn, Key: val.MaskedKey(), Expires: val.Expiration}
		}
		if !isCode(err, "ResourceExistsException") {
			return failed(fmt.Errorf("write secret %s: %w", t.SecretName, err))
		}
		live, err := e.version(ctx, t, "", "AWSCURRENT")
		if err != nil {
			return failed(fmt.Errorf("write secret %s: token %s is taken, and reading AWSCURRENT failed: %w", t.SecretName, short(token), err))
		}
		switch {
		case live.VersionID == token || live.VersionID != cur.VersionID:
			who := "another invocation replaced version " + short(cur.VersionID) + " first"
			if live.VersionID != token {
				who = "AWSCURRENT moved from version " + short(cur.VersionID) + " to " + short(live.VersionID) + " while this invocation rotated"
			}
			if live.Exists && live.ParseErr == nil && !live.Value.Expired(e.Now()) {
				// Its credentials stand; ours are dropped unused and expire
				// on their own.
				return Result{Outcome: Superseded, Reason: who, VersionID: live.VersionID, Key: live.Value.MaskedKey(), Expires: live.Value.Expiration}
			}
			return e.notCurrent(t, fmt.Errorf("%w: %s, but version %s is %s", ErrNotCurrent, who, short(live.VersionID), unusable(live, e.Now())))
		}
		// A rollback: cur is AWSCURRENT again, and token names a version
		// written before. Count that version's writes too, then step on.
		prev, err := e.version(ctx, t, token, "")
		if err != nil {
			return failed(fmt.Errorf("write secret %s: read version %s that AWSCURRENT was moved away from: %w", t.SecretName, short(token), err))
		}
		if cur.VersionDates == nil {
			// Listed dates already include that version.
			prior = append(prior, prev.Writes()...)
		}
	}
	return e.notCurrent(t, fmt.Errorf("%w: version %s was made AWSCURRENT again after %d rotations replaced it; rotate it by hand (stsrotator rotate --target %s) once the rollbacks stop", ErrNotCurrent, short(cur.VersionID), MaxAttempts, t.Name))
}

func (e *Engine) notCurrent(t config.Target, err error) Result {
	e.Emit.PutTarget(t.Name, metrics.SupersededNotCurrent, 1, metrics.Count)
	e.Emit.Put(metrics.SupersededNotCurrent, 1, metrics.Count, nil)
	return failed(err)
}

func unusable(v Current, now time.Time) string {
	switch {
	case !v.Exists:
		return "missing"
	case v.ParseErr != nil:
		return "unusable: " + v.ParseErr.Error()
	}
	return "expired (" + humantime.Left(now, v.Value.Expiration) + ")"
}

// readVersionDates sets cur.VersionDates from Secrets Manager and logs
// where the secret's stored history disagrees with them. It reports
// false, having logged why, when they cannot be read (an emulator without
// ListSecretVersionIds, a role deployed before the rotator was granted
// it): the stored history, future stamps ignored, counts then.
func (e *Engine) readVersionDates(ctx context.Context, t config.Target, cur *Current, now time.Time) bool {
	dates, err := e.versionDates(ctx, t)
	if err != nil {
		e.Log.WarnContext(ctx, "secret version dates not read; counting the write history stored in the secret", slog.String("target", t.Name),
			slog.String("error", events.MaskKeys(Describe(err))))
		return false
	}
	stored, _ := QuotaHold(now, cur.Writes(), len(cur.Writes())+1)
	listed, _ := QuotaHold(now, dates, len(dates)+1)
	if stored != listed {
		e.Log.WarnContext(ctx, "the secret's write history disagrees with Secrets Manager's version dates; counting Secrets Manager's", slog.String("target", t.Name),
			slog.Int("storedWrites24h", stored), slog.Int("versions24h", listed), slog.String("versionId", cur.VersionID))
	}
	cur.VersionDates = dates
	return true
}

// versionDates lists the CreatedDate of every version of the secret:
// ListSecretVersionIds with IncludeDeprecated, because Secrets Manager
// keeps every version younger than 24 hours whether or not a staging
// label is attached, and pages of at most 100 (MaxResults) followed by
// NextToken.
// https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_ListSecretVersionIds.html
func (e *Engine) versionDates(ctx context.Context, t config.Target) ([]time.Time, error) {
	dates := []time.Time{}
	in := &secretsmanager.ListSecretVersionIdsInput{SecretId: aws.String(t.SecretName), IncludeDeprecated: aws.Bool(true), MaxResults: aws.Int32(100)}
	for page := 0; ; page++ {
		out, err := e.Secrets.ListSecretVersionIds(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list versions of secret %s: %w", t.SecretName, err)
		}
		for _, v := range out.Versions {
			if v.CreatedDate != nil {
				dates = append(dates, v.CreatedDate.UTC())
			}
		}
		next := aws.ToString(out.NextToken)
		// A page cap guards against a token that never ends.
		if next == "" || page == maxVersionPages {
			return dates, nil
		}
		in.NextToken = aws.String(next)
	}
}

// maxVersionPages bounds versionDates' pages: Secrets Manager removes
// unlabelled versions past 100 once they are a day old, so more than a
// few pages mean the quota is long exceeded anyway.
const maxVersionPages = 20

// current reads AWSCURRENT. A missing secret is not an error: it is the
// first rotation.
func (e *Engine) current(ctx context.Context, t config.Target) (Current, error) {
	return e.version(ctx, t, "", "AWSCURRENT")
}

// version reads one version by ID or by staging label. The label is always
// named, even for AWSCURRENT, which Secrets Manager returns by default:
// moto 5.2.1 answers a label-less read after UpdateSecretVersionStage with
// the version AWSCURRENT was moved away from (docs/local.md), and AWS
// answers both the same.
func (e *Engine) version(ctx context.Context, t config.Target, id, stage string) (Current, error) {
	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(t.SecretName)}
	if id != "" {
		in.VersionId = aws.String(id)
	}
	if stage != "" {
		in.VersionStage = aws.String(stage)
	}
	out, err := e.Secrets.GetSecretValue(ctx, in)
	if isCode(err, "ResourceNotFoundException") {
		return Current{}, nil
	}
	if err != nil {
		return Current{}, err
	}
	cur := Current{Exists: true, VersionID: aws.ToString(out.VersionId), Created: aws.ToTime(out.CreatedDate)}
	if out.SecretString == nil {
		cur.ParseErr = fmt.Errorf("%w: the version holds binary data, not a string", secretfmt.ErrInvalid)
		return cur, nil
	}
	cur.Value, cur.ParseErr = secretfmt.Parse([]byte(*out.SecretString))
	return cur, nil
}

func assumeInput(t config.Target) *sts.AssumeRoleInput {
	in := &sts.AssumeRoleInput{
		RoleArn:         aws.String(t.RoleArn),
		RoleSessionName: aws.String(t.SessionName),
		DurationSeconds: aws.Int32(int32(t.Duration / time.Second)),
	}
	if t.ExternalID != "" {
		in.ExternalId = aws.String(t.ExternalID)
	}
	if t.SessionPolicy != "" {
		in.Policy = aws.String(t.SessionPolicy)
	}
	for _, a := range t.PolicyArns {
		in.PolicyArns = append(in.PolicyArns, ststypes.PolicyDescriptorType{Arn: aws.String(a)})
	}
	for _, tg := range t.SessionTags {
		in.Tags = append(in.Tags, ststypes.Tag{Key: aws.String(tg.Key), Value: aws.String(tg.Value)})
	}
	if t.SourceIdentity != "" {
		in.SourceIdentity = aws.String(t.SourceIdentity)
	}
	return in
}

// stsRegion pins a target to its regional STS endpoint when configured.
func (e *Engine) stsRegion(t config.Target) func(*sts.Options) {
	return func(o *sts.Options) {
		if t.STSRegion != "" {
			o.Region = t.STSRegion
		}
	}
}

// verify calls GetCallerIdentity with the new credentials: proof that STS
// accepts them and that they are the identity the target expects.
func (e *Engine) verify(ctx context.Context, t config.Target, out *sts.AssumeRoleOutput) (string, error) {
	c := out.Credentials
	static := credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
	id, err := e.STS.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}, e.stsRegion(t), func(o *sts.Options) {
		o.Credentials = static
	})
	if err != nil {
		return "", fmt.Errorf("get caller identity with the new credentials: %w", err)
	}
	got := aws.ToString(id.Arn)
	if e.Verify == VerifyCaller {
		return got, nil
	}
	want, err := ExpectedIdentity(t.RoleArn, t.SessionName)
	if err != nil {
		return "", err
	}
	if !SameIdentity(got, want) || !SameIdentity(aws.ToString(out.AssumedRoleUser.Arn), want) {
		return "", fmt.Errorf("identity is %q (STS said %q), want %q", got, aws.ToString(out.AssumedRoleUser.Arn), want)
	}
	return got, nil
}

// ExpectedIdentity is the ARN GetCallerIdentity returns for a session of
// roleArn: arn:<partition>:sts::<account>:assumed-role/<role name>/<session>.
// The role's path is not part of it.
func ExpectedIdentity(roleArn, session string) (string, error) {
	parts := strings.SplitN(roleArn, ":", 6)
	if len(parts) != 6 || !strings.HasPrefix(parts[5], "role/") {
		return "", fmt.Errorf("role ARN %q is not arn:<partition>:iam::<account>:role/<name>", roleArn)
	}
	res := parts[5]
	name := res[strings.LastIndex(res, "/")+1:]
	return fmt.Sprintf("arn:%s:sts::%s:assumed-role/%s/%s", parts[1], parts[4], name, session), nil
}

// SameIdentity compares two assumed-role ARNs
// (arn:<partition>:sts::<account>:assumed-role/<role>/<session>) by AWS's
// rules: the role name without regard to case (config.SameRoleName: IAM
// does not distinguish role names by case, so a roleArn written as
// role/billingreader assumes BillingReader), everything else exactly.
func SameIdentity(a, b string) bool {
	if a == b {
		return true
	}
	pa, pb := strings.SplitN(a, "/", 3), strings.SplitN(b, "/", 3)
	return len(pa) == 3 && len(pb) == 3 && pa[0] == pb[0] && strings.HasSuffix(pa[0], ":assumed-role") &&
		config.SameRoleName(pa[1], pb[1]) && config.SameSessionName(pa[2], pb[2])
}

// write stores the new version, creating the secret on the target's first
// rotation. The token makes both calls idempotent.
func (e *Engine) write(ctx context.Context, t config.Target, token, body string, exists bool) (version, arn string, err error) {
	if exists {
		return e.put(ctx, t, token, body)
	}
	in := &secretsmanager.CreateSecretInput{
		Name:               aws.String(t.SecretName),
		ClientRequestToken: aws.String(token),
		SecretString:       aws.String(body),
		Description:        aws.String(fmt.Sprintf("STS credentials for %s, kept fresh by stsrotator (credential_process JSON)", t.RoleArn)),
		Tags:               []smtypes.Tag{{Key: aws.String(TagManagedBy), Value: aws.String(ManagedBy)}, {Key: aws.String(TagTarget), Value: aws.String(t.Name)}},
	}
	for _, tg := range t.Tags {
		in.Tags = append(in.Tags, smtypes.Tag{Key: aws.String(tg.Key), Value: aws.String(tg.Value)})
	}
	if e.KMSKeyID != "" {
		in.KmsKeyId = aws.String(e.KMSKeyID)
	}
	out, err := e.Secrets.CreateSecret(ctx, in)
	if isCode(err, "ResourceExistsException") {
		// The secret exists without a current version (the stack created
		// it empty), or a concurrent first rotation created it: add ours.
		return e.put(ctx, t, token, body)
	}
	if err != nil {
		return "", "", err
	}
	return aws.ToString(out.VersionId), aws.ToString(out.ARN), nil
}

func (e *Engine) put(ctx context.Context, t config.Target, token, body string) (version, arn string, err error) {
	out, err := e.Secrets.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId:           aws.String(t.SecretName),
		ClientRequestToken: aws.String(token),
		SecretString:       aws.String(body),
	})
	if err != nil {
		return "", "", err
	}
	return aws.ToString(out.VersionId), aws.ToString(out.ARN), nil
}

func failed(err error) Result {
	return Result{Outcome: Failed, Reason: events.MaskKeys(Describe(err)), Err: err}
}

// Describe turns an error into a short reason; AWS errors keep their code so
// operators can search for it.
func Describe(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return fmt.Sprintf("%s: %s", apiErr.ErrorCode(), apiErr.ErrorMessage())
	}
	return err.Error()
}

func isCode(err error, code string) bool {
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode() == code
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
