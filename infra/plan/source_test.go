package plan

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/quotas"
)

func iamUserConfig(roles int) []byte {
	var b strings.Builder
	b.WriteString("defaults:\n  sourceCredentials: iam-user\n  durationSeconds: 43200\ntargets:\n")
	for i := 0; i < roles; i++ {
		fmt.Fprintf(&b, "  - name: t%d\n    roleArn: arn:aws-us-gov:iam::123456789012:role/some/long/path/for/role/number-%06d\n", i, i)
	}
	return []byte(b.String())
}

// Proves: the source user's grants name every iam-user role exactly once,
// and each managed policy, rendered as IAM counts it (no whitespace), fits
// IAM's 6,144 characters however many roles there are.
func TestSourcePoliciesFitIAM(t *testing.T) {
	for _, n := range []int{1, 80, 500} {
		p := mustPlan(t, iamUserConfig(n))
		seen := map[string]int{}
		for _, doc := range p.SourcePolicies {
			var stmts []map[string]any
			for _, g := range doc {
				stmts = append(stmts, map[string]any{"Sid": g.Sid, "Effect": "Allow", "Action": g.Actions, "Resource": g.RoleArns})
				for _, a := range g.RoleArns {
					seen[a]++
				}
			}
			b, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": stmts})
			if err := quotas.ManagedPolicy.Check("source policy", len(b)); err != nil {
				t.Fatalf("%d roles: %v", n, err)
			}
		}
		if len(seen) != n {
			t.Fatalf("%d roles: %d granted", n, len(seen))
		}
		for a, c := range seen {
			if c != 1 {
				t.Fatalf("%s granted %d times", a, c)
			}
		}
	}
	if p := mustPlan(t, []byte("targets:\n  - name: a\n    roleArn: arn:aws:iam::123456789012:role/A\n")); p.SourcePolicies != nil || p.Functions() != 2 {
		t.Fatalf("role-only config: %d source policies, %d functions; want none and 2 (rotator, reactor)", len(p.SourcePolicies), p.Functions())
	}
}

// Proves: more roles than ten managed policies hold fail the plan with
// IAM's quota named, before any deploy.
func TestSourcePoliciesOverTheQuota(t *testing.T) {
	src := iamUserConfig(1000)
	cfg, err := config.Parse("cfg.yaml", src)
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(cfg, src)
	var ex *quotas.ExceededError
	if !errors.As(err, &ex) || ex.Quota.ID != quotas.ManagedPoliciesPerUser.ID {
		t.Fatalf("got %v, want the managed-policies-per-user quota", err)
	}
}
