package rotation

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

func TestDecide(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tg := config.Target{Name: "app", Duration: time.Hour, RefreshBefore: 20 * time.Minute}
	valid := func(left, age time.Duration) Current {
		return Current{Exists: true, VersionID: "v1", Created: now.Add(-age), Value: secretfmt.Value{Expiration: now.Add(left)}}
	}
	cases := []struct {
		why       string
		cur       Current
		force     bool
		due       bool
		urgent    bool
		reasonHas string
	}{
		{"a missing secret is due at once", Current{}, false, true, true, "no current secret version"},
		{"an unparsable secret is due at once", Current{Exists: true, ParseErr: errors.New("garbage")}, false, true, true, "unusable: garbage"},
		{"expired credentials are due at once, even if written a minute ago", valid(-time.Second, time.Minute), false, true, true, "expired 1s ago"},
		{"plenty left is fresh", valid(50*time.Minute, 10*time.Minute), false, false, false, "fresh: 50m left"},
		{"exactly refreshBefore left is due", valid(20*time.Minute, 40*time.Minute), false, true, false, "20m left, below refreshBefore 20m"},
		{"just above refreshBefore is fresh", valid(20*time.Minute+time.Second, 40*time.Minute), false, false, false, "fresh"},
		{"force rotates fresh credentials when the write interval allows", valid(50*time.Minute, 10*time.Minute), true, true, false, "forced with 50m left"},
		{"force within 10 minutes of the last write is held back", valid(55*time.Minute, 5*time.Minute), true, false, false, "last written 5m ago; AWS advises at most one write per secret per 10m, next write allowed in 5m"},
		// The clock-skew case: a write 25 minutes ahead of this
		// clock must not read "written 25m ago".
		{"a write in the future is named as a clock problem", valid(55*time.Minute, -25*time.Minute), true, false, false, "last written 25m in the future — check the clock; AWS advises at most one write per secret per 10m, next write allowed in 35m"},
	}
	for _, c := range cases {
		t.Run(c.why, func(t *testing.T) {
			d := Decide(now, tg, c.cur, 0, c.force)
			if d.Due != c.due || d.Urgent != c.urgent || !strings.Contains(d.Reason, c.reasonHas) {
				t.Fatalf("got %+v, want due=%v urgent=%v reason containing %q", d, c.due, c.urgent, c.reasonHas)
			}
			if !d.Due && d.NextCheck.IsZero() {
				t.Fatal("a not-due decision must say when to check again")
			}
		})
	}
}

// Jitter brings rotation forward by a stable, bounded per-target offset.
func TestJitter(t *testing.T) {
	const j = 2 * time.Minute
	seen := map[time.Duration]bool{}
	for _, n := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		o := JitterOffset(n, j)
		if o < 0 || o >= j {
			t.Fatalf("offset %s outside [0,%s)", o, j)
		}
		if JitterOffset(n, j) != o {
			t.Fatal("offset must be stable per target")
		}
		seen[o] = true
	}
	if len(seen) < 6 {
		t.Fatalf("8 targets got only %d distinct offsets: jitter does not spread them", len(seen))
	}
	if JitterOffset("a", 0) != 0 {
		t.Fatal("zero jitter must mean no offset")
	}
}

func TestToken(t *testing.T) {
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	cases := []struct {
		why        string
		a, b       [2]string
		wantEquals bool
	}{
		{"the same superseded version gives the same token (retries and duplicates collide)", [2]string{"s", "v1"}, [2]string{"s", "v1"}, true},
		{"a different superseded version gives a new token", [2]string{"s", "v1"}, [2]string{"s", "v2"}, false},
		{"the first version of different secrets differs", [2]string{"s1", ""}, [2]string{"s2", ""}, false},
	}
	for _, c := range cases {
		ta, tb := Token(c.a[0], c.a[1], 0), Token(c.b[0], c.b[1], 0)
		if (ta == tb) != c.wantEquals {
			t.Errorf("%s: %s vs %s", c.why, ta, tb)
		}
		if !uuid.MatchString(ta) || len(ta) < 32 || len(ta) > 64 {
			t.Errorf("%s: token %q is not a 32–64 character UUID", c.why, ta)
		}
	}
}

// After a rollback the token of the version being replaced is already
// spent: each attempt gets its own, and attempt 0 is the token earlier
// releases used, so an upgrade does not stack a version on a retry.
func TestTokenAttempts(t *testing.T) {
	seen := map[string]int{}
	for a := range 5 {
		tok := Token("s", "v1", a)
		if prev, dup := seen[tok]; dup {
			t.Fatalf("attempts %d and %d share token %s", prev, a, tok)
		}
		seen[tok] = a
		if Token("s", "v1", a) != tok {
			t.Fatalf("attempt %d's token is not stable", a)
		}
	}
	// The token earlier releases derived for ("s", "v1").
	if got := Token("s", "v1", 0); got != "03e72cc9-7ec6-86f2-b096-571939701fa0" {
		t.Fatalf("attempt 0 changed: %s", got)
	}
}

func TestExpectedIdentity(t *testing.T) {
	cases := []struct{ why, role, want string }{
		{"plain role", "arn:aws:iam::123456789012:role/App", "arn:aws:sts::123456789012:assumed-role/App/s"},
		{"the role path is not part of the session ARN", "arn:aws:iam::123456789012:role/team/x/App", "arn:aws:sts::123456789012:assumed-role/App/s"},
		{"the partition is kept", "arn:aws-cn:iam::123456789012:role/App", "arn:aws-cn:sts::123456789012:assumed-role/App/s"},
	}
	for _, c := range cases {
		got, err := ExpectedIdentity(c.role, "s")
		if err != nil || got != c.want {
			t.Errorf("%s: got %q, %v; want %q", c.why, got, err, c.want)
		}
	}
	if _, err := ExpectedIdentity("arn:aws:iam::123456789012:user/x", "s"); err == nil {
		t.Error("a user ARN must be refused")
	}
}

// The identity check compares as IAM and STS do: a roleArn written in
// another case assumes the same role (IAM role names are not
// distinguished by case, API_CreateRole.html), while the account, the
// partition and the session name must match exactly.
func TestSameIdentity(t *testing.T) {
	const want = "arn:aws:sts::123456789012:assumed-role/BillingReader/stsrotator-billing"
	for _, c := range []struct {
		why  string
		got  string
		same bool
	}{
		{"identical", want, true},
		{"the role name in another case", "arn:aws:sts::123456789012:assumed-role/billingreader/stsrotator-billing", true},
		{"another session name case is another session", "arn:aws:sts::123456789012:assumed-role/BillingReader/STSROTATOR-billing", false},
		{"another account", "arn:aws:sts::210987654321:assumed-role/BillingReader/stsrotator-billing", false},
		{"another partition", "arn:aws-cn:sts::123456789012:assumed-role/BillingReader/stsrotator-billing", false},
		{"another role", "arn:aws:sts::123456789012:assumed-role/BillingWriter/stsrotator-billing", false},
		{"not an assumed role", "arn:aws:iam::123456789012:user/BillingReader/stsrotator-billing", false},
	} {
		if got := SameIdentity(c.got, want); got != c.same {
			t.Errorf("%s: SameIdentity(%q) = %v, want %v", c.why, c.got, got, c.same)
		}
	}
}

// Whatever a writer of the secret puts there, Decide never calls it fresh
// unless it could be a version this rotator wrote for the target: unexpired,
// expiring within one session, issued no later than now (Foreign); and a
// revocation cutoff after an unstamped version's Secrets Manager
// CreatedDate counts it revoked.
func FuzzDecideForgedValue(f *testing.F) {
	good, _ := secretfmt.Marshal(secretfmt.Value{AccessKeyID: "ASIAEXAMPLEKEY123456", SecretAccessKey: "s", SessionToken: "t",
		Expiration: time.Date(2026, 11, 25, 12, 40, 0, 0, time.UTC), Meta: secretfmt.Metadata{Target: "app", IssuedAt: time.Date(2026, 11, 25, 11, 40, 0, 0, time.UTC)}})
	f.Add(good, int64(0))
	f.Add([]byte(`{"Version":1,"AccessKeyId":"ASIAEXAMPLEKEY123456","SecretAccessKey":"s","SessionToken":"t","Expiration":"9999-12-31T23:59:59Z"}`), int64(-3600))
	f.Fuzz(func(t *testing.T, body []byte, createdOffset int64) {
		now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
		tg := config.Target{Name: "app", RoleArn: "arn:aws:iam::123456789012:role/App", Duration: time.Hour, RefreshBefore: 20 * time.Minute}
		v, err := secretfmt.Parse(body)
		cur := Current{Exists: true, VersionID: "v1", Created: now.Add(time.Duration(createdOffset%86400) * time.Second), Value: v, ParseErr: err}
		d := Decide(now, tg, cur, 0, false)
		if err != nil {
			if !d.Due || !d.Urgent {
				t.Fatalf("an unparsable value is not urgent: %+v", d)
			}
			return
		}
		if !d.Due && d.HeldUntil.IsZero() {
			if v.Expired(now) || v.Expiration.Sub(now) > tg.Duration+ClockSkew || Foreign(now, tg, v) != "" {
				t.Fatalf("a value no rotator wrote is fresh: %v (%s)", v, d.Reason)
			}
		}
		// (A version stamped with an issuedAt is dated by it: one within
		// ClockSkew of the revoke's cutoff yet written before it would need
		// its writer to foresee the cutoff to the second.)
		if cutoff := now.Add(-time.Second); v.Meta.IssuedAt.IsZero() && cur.Created.Before(cutoff.Add(-time.Second)) && !Revoked(tg, cur, cutoff) {
			t.Fatalf("a version created at %s is not revoked by a cutoff at %s: %v", cur.Created, cutoff, v)
		}
	})
}
