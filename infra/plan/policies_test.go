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
			return ReportBusPolicySize(parse(t, plantest.ReaderAccounts(n)).Targets)
		}, "make the default bus's policy statements letting them report ExpiredToken", [2]int{230, 260}},
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

// Issue 19 §1: an account read only through role or user ARNs may report
// only from those principals (aws:PrincipalArn on its own statement); an
// account that is a reader itself stays whole; an account whose ARNs
// would push the bus policy past its quota stays whole too, so every
// config that fitted before still plans, and ReportBusPolicySize measures
// exactly the statements built.
func TestReportSendersNarrowARNOnlyAccounts(t *testing.T) {
	cfg := parse(t, []byte("targets:\n"+
		"  - name: a\n    roleArn: arn:aws:iam::123456789012:role/A\n    readers: [\"111111111111\", arn:aws:iam::111111111111:role/R]\n"+
		"  - name: b\n    roleArn: arn:aws:iam::123456789012:role/B\n    readers: [arn:aws:iam::222222222222:role/R1, arn:aws:iam::222222222222:user/U]\n"+
		"  - name: c\n    roleArn: arn:aws:iam::123456789012:role/C\n    readers: [arn:aws:iam::333333333333:root]\n"))
	whole, narrowed, arns := ReportSenders(cfg.Targets)
	if strings.Join(whole, ",") != "111111111111,333333333333" || strings.Join(narrowed, ",") != "222222222222" ||
		strings.Join(arns, ",") != "arn:aws:iam::222222222222:role/R1,arn:aws:iam::222222222222:user/U" {
		t.Errorf("whole %v, narrowed %v, arns %v", whole, narrowed, arns)
	}
	stmts := ReportBusStatements("s", cfg.Targets, func(a string) any { return a }, "bus")
	if len(stmts) != 2 || stmts[1]["Sid"] != "s-RoleReadersReport" {
		t.Fatalf("statements %v", stmts)
	}
	if c := stmts[1]["Condition"].(map[string]any)["ArnEquals"]; c == nil {
		t.Errorf("the narrowed statement has no ArnEquals aws:PrincipalArn: %v", stmts[1])
	}
	if c := stmts[0]["Condition"].(map[string]any)["ArnEquals"]; c != nil {
		t.Errorf("the whole-account statement is narrowed: %v", stmts[0])
	}

	// 200 roles of one account read one target: narrowing them would not
	// fit, so the account stays whole and the config still plans.
	many := parse(t, plantest.Readers(200))
	whole, narrowed, _ = ReportSenders(many.Targets)
	if len(whole) != 1 || len(narrowed) != 0 {
		t.Errorf("an account whose ARNs do not fit: whole %v, narrowed %v", whole, narrowed)
	}
	if n := ReportBusPolicySize(many.Targets); n > quotas.EventBusPolicy.Limit {
		t.Errorf("%d characters, over the quota", n)
	}
}

// Issue 18 §3: the reactor reads its targets' secrets by name, or by the
// shortest prefixes that fit its policy, never every secret of the
// account and never by a tag.
func TestReactorSecretPatterns(t *testing.T) {
	small := parse(t, []byte("targets:\n  - name: a\n    roleArn: arn:aws:iam::123456789012:role/A\n  - name: b\n    roleArn: arn:aws:iam::123456789012:role/B\n    secretName: team/b\n"))
	if got := strings.Join(ReactorSecretPatterns(small.Targets), " "); got != "stsrotator/a-?????? team/b-??????" {
		t.Errorf("two targets: %s, want each secret by name", got)
	}
	big := parse(t, plantest.Config(10000))
	got := ReactorSecretPatterns(big.Targets)
	if strings.Join(got, " ") != "stsrotator/* workloads/*" {
		t.Errorf("10,000 targets: %v, want the two path prefixes the config uses", got)
	}
	for _, p := range got {
		if p == "*" || p == "" {
			t.Errorf("pattern %q covers every secret", p)
		}
	}
}
