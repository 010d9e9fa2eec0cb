package rotation

import (
	"testing"
	"time"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/internal/faults"
	"github.com/stsrotator/stsrotator/shared/lambdaenv"
)

// Issue figures: the rotator dies between AssumeRole and PutSecretValue,
// or between PutSecretValue and its return (or only the response is lost
// and the SDK retries): the next run converges to one new, verified,
// valid version, and a run after that writes nothing.
func TestResilienceCrashPoints(t *testing.T) {
	cases := []struct {
		why string
		// first is true when the crash hits the target's first mint
		// (CreateSecret) rather than a later rotation (PutSecretValue).
		first bool
		rule  faults.Rule
		// killed is true when the crash is a dying process, not a lost
		// response the SDK recovers from itself.
		killed bool
		// want is the interrupted run's outcome, next the following run's.
		want, next Outcome
	}{
		{"dies after STS issued credentials, before reading them: nothing is stored, the next run mints afresh",
			false, faults.Rule{Op: "AssumeRole", Rate: 1, Kinds: []faults.Kind{faults.KillAfter}}, true, Failed, Rotated},
		{"dies after verifying, just before PutSecretValue leaves: nothing is stored, the next run mints afresh",
			false, faults.Rule{Op: "PutSecretValue", Rate: 1, Kinds: []faults.Kind{faults.Kill}}, true, Failed, Rotated},
		{"dies after PutSecretValue reached Secrets Manager, before it returned: the next run finds the version fresh",
			false, faults.Rule{Op: "PutSecretValue", Rate: 1, Kinds: []faults.Kind{faults.KillAfter}}, true, Failed, Fresh},
		{"PutSecretValue's response is lost once: the SDK retries with the same token and one version results",
			false, faults.Rule{Op: "PutSecretValue", Rate: 1, Kinds: []faults.Kind{faults.Drop}, Limit: 1}, false, Rotated, Fresh},
		{"every PutSecretValue attempt times out after the write: the run reports failure, the stored version stands",
			false, faults.Rule{Op: "PutSecretValue", Rate: 1, Kinds: []faults.Kind{faults.Timeout}, Limit: lambdaenv.AWSMaxAttempts}, false, Failed, Fresh},
		{"dies after CreateSecret reached Secrets Manager on the first mint: the next run finds the version fresh",
			true, faults.Rule{Op: "CreateSecret", Rate: 1, Kinds: []faults.Kind{faults.KillAfter}}, true, Failed, Fresh},
		{"dies just before CreateSecret leaves on the first mint: the next run creates the secret",
			true, faults.Rule{Op: "CreateSecret", Rate: 1, Kinds: []faults.Kind{faults.Kill}}, true, Failed, Rotated},
	}
	for _, c := range cases {
		t.Run(c.why, func(t *testing.T) {
			f := newFaulty(t, awstest.Seed(1))
			tg := manyTargets(t, f.env, 1).Targets[0]
			ctx := awstest.Context(t)
			want := 1
			if !c.first {
				if r := f.eng.Rotate(ctx, tg, Request{}); r.Outcome != Rotated {
					t.Fatalf("first mint: %+v", r)
				}
				f.clk.Add(45 * time.Minute) // inside refreshBefore: due
				want = 2
			}

			f.inj.SetRules(c.rule)
			run, killed := faults.Killable(ctx)
			r := f.eng.Rotate(run, tg, Request{Why: "crash"})
			if r.Outcome != c.want || killed() != c.killed {
				t.Fatalf("interrupted run: %s (%s), killed %v; want %s, killed %v", r.Outcome, r.Reason, killed(), c.want, c.killed)
			}

			// The next run is a new process: a new engine over the same
			// clients, nothing remembered from the one that died.
			f.inj.SetRules()
			f.clk.Add(time.Minute)
			next := *f.eng
			if r := next.Rotate(ctx, tg, Request{Why: "schedule"}); r.Outcome != c.next {
				t.Fatalf("next run: %s (%s), want %s", r.Outcome, r.Reason, c.next)
			}
			if r := next.Rotate(ctx, tg, Request{Why: "schedule"}); r.Outcome != Fresh {
				t.Fatalf("the run after converging: %s (%s), want fresh", r.Outcome, r.Reason)
			}
			v, _, err := f.current(ctx, tg.SecretName)
			if err != nil || v.Expired(f.clk.Now()) {
				t.Fatalf("current after recovery: %v, expires %s", err, v.Expiration)
			}
			a := f.auditSecrets(t, []string{tg.SecretName})
			t.Logf("versions %d (want %d), invalid %d, unverified %d, duplicate %d; calls %v", a.versions, want, a.invalid, a.unverified, a.duplicates, f.inj.Totals())
			for _, p := range a.problems {
				t.Error(p)
			}
			if a.versions != want {
				t.Fatalf("%d versions, want %d: a crash must neither lose nor stack a version", a.versions, want)
			}
			if fails := awstest.CountEMF(f.emf.String(), "RotationFailures"); (c.want == Failed) != (fails == 1) {
				t.Fatalf("%d RotationFailures metrics for an interrupted run that ended %s", fails, c.want)
			}
		})
	}
}
