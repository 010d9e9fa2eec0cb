package rotation

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/internal/faults"
	"github.com/stsrotator/stsrotator/internal/mototest"
	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/metrics"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

// These tests run on moto, not kumo: moto refuses a repeated
// ClientRequestToken with different content (ResourceExistsException) as
// Secrets Manager does, implements UpdateSecretVersionStage, and answers
// GetCallerIdentity with the assumed-role ARN, so the engine runs with its
// production verification. kumo would apply a repeated token as an
// overwrite and could not show a stuck secret at all.

type motoFixture struct {
	moto    *mototest.Server
	sm      *secretsmanager.Client
	clk     *awstest.Clock
	eng     *Engine
	metrics *bytes.Buffer
	tg      config.Target
}

func newMotoFixture(t *testing.T) *motoFixture {
	t.Helper()
	m := mototest.Start(t)
	cfg := m.Config("")
	clk := awstest.NewClock(time.Now())
	var buf bytes.Buffer
	f := &motoFixture{moto: m, sm: secretsmanager.NewFromConfig(cfg), clk: clk, metrics: &buf}
	f.eng = &Engine{
		// moto stamps Expiration on its wall clock; SimulatedExpiry moves it
		// onto the test's clock, changing nothing else.
		STS:     faults.SimulatedExpiry{STS: sts.NewFromConfig(cfg), Now: clk.Now},
		Secrets: f.sm, Now: clk.Now,
		Log:    awstest.Logger(nil),
		Emit:   metrics.NewWriter(&syncWriter{w: &buf}, clk.Now),
		Verify: VerifyIdentity,
	}
	c, err := config.Parse("moto.yaml", []byte("targets:\n  - name: app\n    roleArn: arn:aws:iam::"+mototest.Account+":role/App\n"))
	if err != nil {
		t.Fatal(err)
	}
	f.tg = c.Targets[0]
	return f
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// stages lists every version moto holds for the secret, with its labels.
func (f *motoFixture) stages(t *testing.T) map[string][]string {
	t.Helper()
	out, err := f.sm.ListSecretVersionIds(context.Background(), &secretsmanager.ListSecretVersionIdsInput{
		SecretId: aws.String(f.tg.SecretName), IncludeDeprecated: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]string{}
	for _, v := range out.Versions {
		m[aws.ToString(v.VersionId)] = v.VersionStages
	}
	return m
}

func (f *motoFixture) current(t *testing.T) string {
	t.Helper()
	for id, st := range f.stages(t) {
		for _, s := range st {
			if s == "AWSCURRENT" {
				return id
			}
		}
	}
	t.Fatal("no version is AWSCURRENT")
	return ""
}

// rollback moves AWSCURRENT back to to, as the console's rollback and
// `aws secretsmanager update-secret-version-stage` do.
func (f *motoFixture) rollback(t *testing.T, to string) {
	t.Helper()
	_, err := f.sm.UpdateSecretVersionStage(context.Background(), &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(f.tg.SecretName), VersionStage: aws.String("AWSCURRENT"),
		MoveToVersionId: aws.String(to), RemoveFromVersionId: aws.String(f.current(t))})
	if err != nil {
		t.Fatal(err)
	}
	if got := f.current(t); got != to {
		t.Fatalf("after the rollback AWSCURRENT is %s, want %s", got, to)
	}
}

// Issue 15 §3, as reported: V1 written; V2 written by the schedule;
// AWSCURRENT moved back to V1; sweeps at +1, +10 (V1 expired) and +19
// minutes. Before the fix each sweep reported superseded, nothing was
// written and AWSCURRENT stayed expired.
func TestRollbackIsRotatedOnMoto(t *testing.T) {
	f := newMotoFixture(t)
	ctx := context.Background()
	r1 := f.eng.Rotate(ctx, f.tg, Request{Why: "first mint"})
	if r1.Outcome != Rotated {
		t.Fatalf("V1: %+v", r1)
	}
	v1 := r1.VersionID
	// The schedule writes V2 once less than refreshBefore is left.
	f.clk.Add(f.tg.Duration - f.tg.RefreshBefore)
	r2 := f.eng.Rotate(ctx, f.tg, Request{Why: "schedule"})
	if r2.Outcome != Rotated || r2.VersionID == v1 {
		t.Fatalf("V2: %+v", r2)
	}
	f.rollback(t, v1)

	sweeps := []struct {
		after time.Duration
		want  Outcome
	}{
		// V1 has refreshBefore − 1m left: due, and a new version is written.
		{time.Minute, Rotated},
		// The new version is fresh: nothing to do, and nothing stuck.
		{10 * time.Minute, Fresh},
		{19 * time.Minute, Fresh},
	}
	var rotated string
	start := f.clk.Now()
	for _, s := range sweeps {
		f.clk.Add(start.Add(s.after).Sub(f.clk.Now()))
		_, sum := f.eng.Sweep(ctx, []config.Target{f.tg}, 1, Request{Why: "schedule"})
		res := append(append(sum.Rotated, sum.Failed...), Result{})[0]
		got := Rotated
		switch {
		case len(sum.Failed) > 0:
			got = Failed
		case sum.Superseded > 0:
			got = Superseded
		case sum.Fresh > 0:
			got = Fresh
		}
		if got != s.want {
			t.Fatalf("sweep at +%s after the rollback: %s (%+v), want %s", s.after, got, sum, s.want)
		}
		if got == Rotated {
			rotated = res.VersionID
			if !strings.Contains(res.Reason, "moved back to version") {
				t.Errorf("the reason does not say AWSCURRENT was moved back: %q", res.Reason)
			}
		}
		cur, err := f.eng.current(ctx, f.tg)
		if err != nil {
			t.Fatal(err)
		}
		if cur.Value.Expired(f.clk.Now()) {
			t.Fatalf("at +%s AWSCURRENT (%s) is expired", s.after, cur.VersionID)
		}
	}
	if cur := f.current(t); cur != rotated || cur == v1 || cur == r2.VersionID {
		t.Fatalf("AWSCURRENT is %s; want the version written after the rollback (%s), not V1 %s or V2 %s", cur, rotated, v1, r2.VersionID)
	}
	if n := len(f.stages(t)); n != 3 {
		t.Fatalf("%d versions, want 3 (V1, V2 and one replacement)", n)
	}
}

// A forced rotation (the reactor's, after an ExpiredToken report) on a
// rolled-back, expired version writes a new one instead of reporting
// "already rotated".
func TestForcedRotationAfterRollbackOnMoto(t *testing.T) {
	f := newMotoFixture(t)
	ctx := context.Background()
	v1 := f.eng.Rotate(ctx, f.tg, Request{}).VersionID
	f.clk.Add(f.tg.Duration - f.tg.RefreshBefore)
	if r := f.eng.Rotate(ctx, f.tg, Request{}); r.Outcome != Rotated {
		t.Fatalf("V2: %+v", r)
	}
	f.rollback(t, v1)
	f.clk.Add(f.tg.RefreshBefore + time.Minute) // V1 expired a minute ago
	r := f.eng.Rotate(ctx, f.tg, Request{Force: true, Why: "expired-token report"})
	if r.Outcome != Rotated || r.VersionID == v1 {
		t.Fatalf("forced rotation of an expired, rolled-back V1: %+v", r)
	}
	if f.current(t) != r.VersionID {
		t.Fatal("the forced rotation's version is not AWSCURRENT")
	}
}

// Duplicate invocations racing on one due target, before and after a
// rollback, leave exactly one new version, and every loser reports
// superseded with the winner's version, which is AWSCURRENT.
func TestDuplicateInvocationsOnMoto(t *testing.T) {
	f := newMotoFixture(t)
	ctx := context.Background()
	v1 := f.eng.Rotate(ctx, f.tg, Request{}).VersionID
	race := func(stage string, wantVersions int) string {
		t.Helper()
		const n = 6
		results := make([]Result, n)
		var wg sync.WaitGroup
		for i := range results {
			wg.Add(1)
			go func() { defer wg.Done(); results[i] = f.eng.Rotate(ctx, f.tg, Request{Why: "duplicate"}) }()
		}
		wg.Wait()
		cur := f.current(t)
		rotated := 0
		for _, r := range results {
			switch r.Outcome {
			case Rotated:
				rotated++
			case Superseded:
				if r.VersionID != cur {
					t.Errorf("%s: superseded by %s, but AWSCURRENT is %s", stage, r.VersionID, cur)
				}
			case Fresh:
				// Read AWSCURRENT after the winner wrote it.
			default:
				t.Errorf("%s: %+v", stage, r)
			}
		}
		if rotated != 1 {
			t.Errorf("%s: %d invocations rotated, want exactly 1: %+v", stage, rotated, results)
		}
		if got := len(f.stages(t)); got != wantVersions {
			t.Fatalf("%s: %d versions, want %d", stage, got, wantVersions)
		}
		return cur
	}
	f.clk.Add(f.tg.Duration - f.tg.RefreshBefore)
	race("schedule", 2)
	f.rollback(t, v1)
	f.clk.Add(time.Minute)
	race("after a rollback", 3)
}

// When the version holding the token is not AWSCURRENT and AWSCURRENT has
// moved on to an expired version since the read, the attempt is a
// failure with the SupersededNotCurrent metric, never "superseded".
func TestSupersededOnlyWhenCurrentAndUsableOnMoto(t *testing.T) {
	f := newMotoFixture(t)
	ctx := context.Background()
	v1 := f.eng.Rotate(ctx, f.tg, Request{}).VersionID
	f.clk.Add(f.tg.Duration - f.tg.RefreshBefore)
	v2 := f.eng.Rotate(ctx, f.tg, Request{}).VersionID
	f.clk.Add(f.tg.RefreshBefore + time.Minute) // V2 expired too

	// Between this invocation's read (AWSCURRENT = V2) and its write,
	// someone moves AWSCURRENT back to the expired V1.
	cur, err := f.eng.current(ctx, f.tg)
	if err != nil || cur.VersionID != v2 {
		t.Fatalf("read: %v %+v", err, cur)
	}
	f.rollback(t, v1)
	// The token for replacing V2 is taken by a racer whose write never
	// became current (its version moved off by the rollback): write that
	// version first, by hand, as the racer would have.
	if _, err := f.sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(f.tg.SecretName),
		ClientRequestToken: aws.String(Token(f.tg.SecretName, v2, 0)), SecretString: aws.String(`{"Version":1}`),
		VersionStages: []string{"RACER"}}); err != nil {
		t.Fatal(err)
	}
	d := Decide(f.clk.Now(), f.tg, cur, 0, false)
	val := mintedValue(t, f, cur)
	res := f.eng.store(ctx, f.tg, cur, d, val)
	if res.Outcome != Failed || !strings.Contains(res.Reason, "not AWSCURRENT and usable") || !strings.Contains(res.Reason, "expired") {
		t.Fatalf("want a failure naming the expired AWSCURRENT, got %+v", res)
	}
	if !strings.Contains(f.metrics.String(), `"`+metrics.SupersededNotCurrent+`":1`) {
		t.Fatalf("no %s metric emitted:\n%s", metrics.SupersededNotCurrent, f.metrics)
	}
	// The next sweep starts from what is there and rotates.
	if r := f.eng.Rotate(ctx, f.tg, Request{}); r.Outcome != Rotated || f.current(t) != r.VersionID {
		t.Fatalf("next sweep: %+v", r)
	}
}

// mintedValue is what rotate would write over cur: fresh, verified
// credentials from moto.
func mintedValue(t *testing.T, f *motoFixture, cur Current) secretfmt.Value {
	t.Helper()
	out, err := f.eng.STS.AssumeRole(context.Background(), assumeInput(f.tg))
	if err != nil {
		t.Fatal(err)
	}
	v := secretfmt.Value{AccessKeyID: aws.ToString(out.Credentials.AccessKeyId), SecretAccessKey: aws.ToString(out.Credentials.SecretAccessKey),
		SessionToken: aws.ToString(out.Credentials.SessionToken), Expiration: out.Credentials.Expiration.UTC().Truncate(time.Second)}
	v.Meta.Target, v.Meta.IssuedAt = f.tg.Name, f.clk.Now()
	return v
}
