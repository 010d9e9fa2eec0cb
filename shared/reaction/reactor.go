package reaction

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/smithy-go"

	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/events"
	"github.com/stsrotator/stsrotator/shared/metrics"
	"github.com/stsrotator/stsrotator/shared/rotation"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

// Secrets is the narrowest Secrets Manager surface the reactor needs.
type Secrets interface {
	GetSecretValue(context.Context, *secretsmanager.GetSecretValueInput, ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Publisher sends alerts.
type Publisher interface {
	Publish(context.Context, *sns.PublishInput, ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// Rotator performs a forced rotation of one target. An error means the
// request could not be made (worth a retry); a rotation that ran and
// failed is a Result with Outcome Failed.
type Rotator interface {
	Rotate(ctx context.Context, t config.Target, reason string) (rotation.Result, error)
}

// Reactor handles signals. Build it once per process; it is safe for
// concurrent use.
type Reactor struct {
	Config *config.Config
	// Account is the stack's own account (the one EventBridge records on
	// reports its own principals put). Reports from any other account act
	// only on targets that account reads (Reads); empty trusts every
	// sender, for local runs.
	Account  string
	Secrets  Secrets
	Rotator  Rotator
	Topic    Publisher
	TopicArn string
	Now      func() time.Time
	Log      *slog.Logger
	Emit     *metrics.Writer
	// Window is the debounce window; zero means DefaultWindow.
	Window time.Duration
	// Events puts every alert sent to the topic on EventBridge as well,
	// as an "Alert" event; nil sends none. A failed put is counted
	// (metrics.EventPublishFailures), never a failed reaction.
	Events *events.Emitter
	// Claims debounces alerts; nil keeps them in this process's memory
	// (MemoryClaims). The deployed reactor shares one table across its
	// execution environments (TableClaims).
	Claims AlertClaims

	mu     sync.Mutex
	locks  map[string]*sync.Mutex
	memory MemoryClaims
}

// UnmatchedAlertKey is the debounce key of the one summary alert per
// window for every report that matched no target or was refused for its
// sender (it is no target name: names are validated, this has a space).
const UnmatchedAlertKey = "unmatched reports"

// Outcome is what the reactor did with one signal.
type Outcome struct {
	Target     string
	Decision   Decision
	Rotation   *rotation.Result
	Alerted    bool
	Suppressed int
}

func (r *Reactor) window() time.Duration {
	if r.Window > 0 {
		return r.Window
	}
	return DefaultWindow
}

// React acts on one signal. It returns an error only for failures worth a
// retry (AWS unreachable or throttling); everything else is an Outcome.
func (r *Reactor) React(ctx context.Context, s Signal) (Outcome, error) {
	r.Emit.Put(metrics.EventsReceived, 1, metrics.Count, map[string]string{metrics.DimSource: s.Source})
	t, ok := r.match(s)
	if why, reason := r.refusal(s, t, ok); why != "" {
		// The sender may not act on what it names: counted, logged with
		// the account EventBridge recorded, folded into the one summary
		// alert for unmatched reports, never rotated.
		r.Emit.Put(metrics.RefusedReports, 1, metrics.Count, map[string]string{metrics.DimReason: reason})
		r.Log.WarnContext(ctx, "report refused: the sender may not report on what it names",
			slog.String("senderAccount", s.Account), slog.String("reason", reason), slog.String("why", why))
		out := Outcome{Decision: Decision{Action: Unmatched, Key: KeyNone, Reason: why}}
		return r.finish(ctx, UnmatchedAlertKey, out, s, config.Target{}, Version{}, Version{})
	}
	if !ok && s.Target == "" && s.SecretID == "" && s.RoleArn == "" && s.Key != "" {
		if n := len(r.Config.Targets); n > MaxKeySearchTargets {
			r.Emit.Put(metrics.KeySearchSkipped, 1, metrics.Count, nil)
			r.Log.WarnContext(ctx, "key-only report not searched: too many targets", slog.Int("targets", n), slog.Int("cap", MaxKeySearchTargets))
			out := Outcome{Decision: Decision{Action: Unmatched, Key: KeyNone,
				Reason: fmt.Sprintf("the report names only a key, and with %d targets (more than %d) the reactor does not search them all: report with --target or the secret's name", n, MaxKeySearchTargets)}}
			r.Emit.Put(metrics.UnmatchedEvents, 1, metrics.Count, nil)
			return r.finish(ctx, UnmatchedAlertKey, out, s, config.Target{}, Version{}, Version{})
		}
		var err error
		if t, ok, err = r.matchKey(ctx, s.Key); err != nil {
			return Outcome{}, err
		}
	}
	if !ok && s.Source == FromCloudTrail {
		// The stack's one CloudTrail rule matches every expired session in
		// the account (a rule per target role would not fit EventBridge's
		// quotas at scale), so a role that is no target is someone else's
		// business: counted and logged, never alerted.
		r.Emit.Put(metrics.UnmatchedEvents, 1, metrics.Count, map[string]string{metrics.DimSource: s.Source})
		r.Log.InfoContext(ctx, "expired-token signal for a role that is no target; ignored",
			slog.String("role", s.RoleArn), slog.String("source", s.Source))
		return Outcome{Decision: Decision{Action: Unmatched, Key: KeyNone, Reason: unmatchedReason(s)}}, nil
	}
	if !ok {
		r.Emit.Put(metrics.UnmatchedEvents, 1, metrics.Count, nil)
		d := Decision{Action: Unmatched, Key: KeyNone, Reason: unmatchedReason(s)}
		out := Outcome{Decision: d}
		return r.finish(ctx, UnmatchedAlertKey, out, s, config.Target{}, Version{}, Version{})
	}

	// One signal per target at a time in this process: the second waits
	// and then sees the first one's rotation in Secrets Manager.
	lock := r.lock(t.Name)
	lock.Lock()
	defer lock.Unlock()

	cur, err := r.version(ctx, t, "AWSCURRENT")
	if err != nil {
		return Outcome{Target: t.Name}, err
	}
	prev, err := r.version(ctx, t, "AWSPREVIOUS")
	if err != nil {
		return Outcome{Target: t.Name}, err
	}
	now := r.Now()
	d := Decide(now, t, s, cur, prev, r.window())
	// Captured before a rotation moves the stages: the alert must still
	// say how old the credentials that failed were.
	// Decide already matched the key to a version; read it from there.
	var failing Version
	switch d.Key {
	case KeyCurrent:
		failing = cur
	case KeyPrevious:
		failing = prev
	}
	out := Outcome{Target: t.Name, Decision: d}
	switch d.Action {
	case Force:
		res, err := r.Rotator.Rotate(ctx, t, rotateReason(s))
		if err != nil {
			return out, fmt.Errorf("request rotation of %s: %w", t.Name, err)
		}
		out.Rotation = &res
		switch res.Outcome {
		case rotation.Rotated:
			r.Emit.PutTarget(t.Name, metrics.ForcedRotations, 1, metrics.Count)
			fresh, err := r.version(ctx, t, "AWSCURRENT")
			if err != nil {
				// The rotation happened; only the alert's "Current" line is
				// lost, and it must not show the replaced key as current.
				r.Log.WarnContext(ctx, "re-read after a forced rotation failed; the alert leaves out the current version",
					slog.String("target", t.Name), slog.String("error", err.Error()))
				fresh = Version{}
			}
			cur = fresh
		case rotation.Fresh, rotation.Superseded:
			// Another invocation rotated first: that one alerts.
			out.Decision = Decision{Action: Recent, Key: d.Key, Reason: "another invocation already rotated: " + res.Reason}
		}
	case Stale:
		r.Emit.PutTarget(t.Name, metrics.StaleConsumers, 1, metrics.Count)
	case Unmatched:
		r.Emit.Put(metrics.UnmatchedEvents, 1, metrics.Count, nil)
	}
	return r.finish(ctx, t.Name, out, s, t, cur, failing)
}

// finish logs the outcome and sends the (debounced) alert.
// cur is the current version now; failing held the reported key when the
// decision was made.
func (r *Reactor) finish(ctx context.Context, alertKey string, out Outcome, s Signal, t config.Target, cur, failing Version) (Outcome, error) {
	attrs := []any{slog.String("target", out.Target), slog.String("action", string(out.Decision.Action)),
		slog.String("key", s.Key), slog.String("keyMatch", string(out.Decision.Key)), slog.String("reason", out.Decision.Reason),
		slog.String("source", s.Source), slog.String("senderAccount", s.Account), slog.String("observer", s.Observer)}
	if out.Rotation != nil {
		attrs = append(attrs, slog.String("rotation", string(out.Rotation.Outcome)), slog.String("newKey", out.Rotation.Key))
	}
	rotated := out.Rotation != nil && out.Rotation.Outcome == rotation.Rotated
	send, suppressed, err := r.claims().Claim(ctx, alertKey, r.Now(), r.window(), rotated)
	if err != nil {
		if !rotated {
			r.Log.InfoContext(ctx, "expired-token signal", attrs...)
			return out, err
		}
		// The rotation happened: its alert goes out even when the
		// debounce cannot be asked.
		r.Log.WarnContext(ctx, "alert claim failed; the rotation alert is sent anyway", slog.String("error", err.Error()))
		send = true
	}
	attrs = append(attrs, slog.Bool("alerted", send))
	r.Log.InfoContext(ctx, "expired-token signal", attrs...)
	if !send {
		return out, nil
	}
	subject, body := Alert(r.Now(), s, out, t, cur, failing, suppressed, r.window())
	if _, err := r.Topic.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(r.TopicArn), Subject: aws.String(subject), Message: aws.String(body)}); err != nil {
		if rerr := r.claims().Release(ctx, alertKey, suppressed); rerr != nil {
			r.Log.WarnContext(ctx, "alert claim not released", slog.String("error", rerr.Error()))
		}
		return out, fmt.Errorf("publish alert for %s: %w", alertKey, err)
	}
	out.Alerted, out.Suppressed = true, suppressed
	if _, err := r.Events.Emit(ctx, AlertEvent(r.Now(), subject, s, out, t, cur, suppressed)); err != nil {
		r.Emit.Put(metrics.EventPublishFailures, 1, metrics.Count, nil)
		r.Log.WarnContext(ctx, "alert event not published", slog.String("target", out.Target), slog.String("error", events.MaskKeys(err.Error())))
	}
	return out, nil
}

// claims is where alert claims live: Claims, or this process's memory.
// Either allows one alert per key per window, except that a rotation this
// reactor just made always alerts (and starts a new window): it is the
// alert a human most needs, and Secrets Manager's state already limits
// rotations to one per target per window. So one window can carry two
// alerts for a target: a non-rotation one, then the rotation's.
// docs/reaction.md states the same; TestAlertDebounce pins it.
func (r *Reactor) claims() AlertClaims {
	if r.Claims != nil {
		return r.Claims
	}
	return &r.memory
}

func (r *Reactor) lock(target string) *sync.Mutex {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.locks == nil {
		r.locks = map[string]*sync.Mutex{}
	}
	l := r.locks[target]
	if l == nil {
		l = &sync.Mutex{}
		r.locks[target] = l
	}
	return l
}

// match finds the target a signal is about: by name, by secret name or
// ARN, or by role ARN (and session name, when several targets share a
// role).
func (r *Reactor) match(s Signal) (config.Target, bool) {
	if s.Target != "" {
		return r.Config.Target(s.Target)
	}
	if s.SecretID != "" {
		for _, t := range r.Config.Targets {
			if config.SameSecretName(s.SecretID, t.SecretName) || secretArnMatches(s.SecretID, t.SecretName) {
				return t, true
			}
		}
		return config.Target{}, false
	}
	var byRole []config.Target
	for _, t := range r.Config.Targets {
		if s.RoleArn != "" && sameRole(s.RoleArn, t.RoleArn) {
			byRole = append(byRole, t)
		}
	}
	for _, t := range byRole {
		if s.Session == "" || config.SameSessionName(s.Session, t.SessionName) {
			return t, true
		}
	}
	return config.Target{}, false
}

// matchKey finds the target whose current or previous version holds the
// masked key: the last resort for a report that names nothing else. It
// reads two versions per target, so it is only used when nothing cheaper
// identifies the target.
func (r *Reactor) matchKey(ctx context.Context, masked string) (config.Target, bool, error) {
	for _, t := range r.Config.Targets {
		for _, stage := range []string{"AWSCURRENT", "AWSPREVIOUS"} {
			v, err := r.version(ctx, t, stage)
			if err != nil {
				return config.Target{}, false, err
			}
			if v.Exists && v.ParseErr == nil && v.Value.MaskedKey() == masked {
				return t, true, nil
			}
		}
	}
	return config.Target{}, false, nil
}

// secretArnMatches accepts a full ARN (name plus Secrets Manager's
// six-character suffix) or a partial one.
func secretArnMatches(arn, name string) bool {
	i := strings.Index(arn, ":secret:")
	if !strings.HasPrefix(arn, "arn:") || i < 0 {
		return false
	}
	rest := arn[i+len(":secret:"):]
	return config.SameSecretName(rest, name) || (len(rest) == len(name)+7 && rest[len(name)] == '-' && config.SameSecretName(rest[:len(name)], name))
}

// sameRole compares role ARNs ignoring the role's path, which CloudTrail's
// sessionIssuer keeps but config authors may leave out, and comparing the
// role name as IAM does, without regard to case (config.SameRoleName).
func sameRole(a, b string) bool {
	if a == b {
		return true
	}
	pa, pb := strings.SplitN(a, ":", 6), strings.SplitN(b, ":", 6)
	if len(pa) != 6 || len(pb) != 6 || pa[4] != pb[4] || pa[1] != pb[1] {
		return false
	}
	return config.SameRoleName(pa[5][strings.LastIndex(pa[5], "/")+1:], pb[5][strings.LastIndex(pb[5], "/")+1:])
}

func (r *Reactor) version(ctx context.Context, t config.Target, stage string) (Version, error) {
	out, err := r.Secrets.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(t.SecretName), VersionStage: aws.String(stage)})
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode() == "ResourceNotFoundException" {
		return Version{}, nil
	}
	if err != nil {
		return Version{}, fmt.Errorf("read %s of %s: %w", stage, t.SecretName, err)
	}
	v := Version{Exists: true, VersionID: aws.ToString(out.VersionId)}
	v.Value, v.ParseErr = secretfmt.Parse([]byte(aws.ToString(out.SecretString)))
	return v, nil
}

// describeIdentity is what a signal names, each value as the reporter
// sent it, escaped and shortened: for the alert's claimed part only.
func describeIdentity(s Signal) string {
	var parts []string
	for _, kv := range [][2]string{{"target", s.Target}, {"secret", s.SecretID}, {"role", s.RoleArn}, {"session", s.Session}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+" "+quoted(kv[1], MaxClaimedField))
		}
	}
	if len(parts) == 0 {
		return "nothing but a key"
	}
	return strings.Join(parts, ", ")
}

// unmatchedReason says which kinds of name a signal carried, never their
// values: a Decision's reason is stsrotator's own text.
func unmatchedReason(s Signal) string {
	var kinds []string
	for _, kv := range [][2]string{{"target", s.Target}, {"secret", s.SecretID}, {"role", s.RoleArn}, {"key", s.Key}} {
		if kv[1] != "" {
			kinds = append(kinds, kv[0])
		}
	}
	if len(kinds) == 0 {
		return "the report names no target"
	}
	return "no target of this stack matches the " + strings.Join(kinds, " or ") + " the report names"
}

// rotateReason is the reason a forced rotation carries into the rotator's
// log and its Credentials Rotated event: stsrotator's words only.
func rotateReason(s Signal) string {
	if s.Account != "" {
		return fmt.Sprintf("ExpiredToken report (%s) from account %s", s.Source, s.Account)
	}
	return fmt.Sprintf("ExpiredToken report (%s)", s.Source)
}
