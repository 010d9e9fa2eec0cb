package plan

import (
	"errors"
	"strings"
	"testing"

	"github.com/stsrotator/stsrotator/infra/plan/plantest"
	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/quotas"
)

// edge is the largest n for which size(n) fits limit, found by growing n:
// the config is then planned at n (must pass) and at n+1 (must fail).
func edge(t *testing.T, limit int, size func(n int) int) int {
	t.Helper()
	n := 1
	for size(n+1) <= limit {
		n++
	}
	return n
}

// Proves: the policies that grow with readers are refused by the plan
// (so by validate and synth alike) one reader past their quota, and
// accepted at it: a target's secret resource policy (Secrets Manager's
// 20,480 characters) and the default bus's policy naming every reader
// account (EventBridge's 10,240), each with the field and the fix.
func TestReaderPoliciesAtTheEdge(t *testing.T) {
	for _, c := range []struct {
		q      quotas.Quota
		config func(n int) []byte
		size   func(n int) int
		say    string
		near   [2]int // where the edge must fall, a sanity bound from the trial
	}{
		{quotas.SecretResourcePolicy, plantest.Readers, func(n int) int {
			return ReadPolicySize(parse(t, plantest.Readers(n)).Targets[0])
		}, "cfg.yaml:2: targets[0](t0).readers: ", [2]int{120, 200}},
		{quotas.EventBusPolicy, plantest.ReaderAccounts, func(n int) int {
			return ReportBusPolicySize(ReaderAccounts(parse(t, plantest.ReaderAccounts(n)).Targets))
		}, "distinct reader accounts make the default bus's policy statement letting them report ExpiredToken", [2]int{230, 260}},
	} {
		t.Run(c.q.ID, func(t *testing.T) {
			n := edge(t, c.q.Limit, c.size)
			if n < c.near[0] || n > c.near[1] {
				t.Fatalf("edge at %d, expected within %v", n, c.near)
			}
			mustPlan(t, c.config(n))
			_, err := Load("cfg.yaml", c.config(n+1))
			var ex *quotas.ExceededError
			if !errors.As(err, &ex) || ex.Quota.ID != c.q.ID || !strings.Contains(err.Error(), c.say) || !strings.Contains(err.Error(), "fix: ") {
				t.Fatalf("one over (%d): %v", n+1, err)
			}
		})
	}
}

func parse(t *testing.T, src []byte) *config.Config {
	t.Helper()
	cfg, err := config.Parse("cfg.yaml", src)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
