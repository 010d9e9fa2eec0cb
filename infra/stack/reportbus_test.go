package stack_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stsrotator/stsrotator/infra/plan"
	"github.com/stsrotator/stsrotator/infra/quotacheck"
	"github.com/stsrotator/stsrotator/infra/stack"
	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/events"
	"github.com/stsrotator/stsrotator/shared/lambdaenv"
	"github.com/stsrotator/stsrotator/shared/quotas"
)

// Issue proof: a consumer in a reader account (the example's
// 210987654321) may put ExpiredToken reports, and only those, on the
// stsrotator account's default bus, and every rotator writes that bus's
// ARN into the secrets it stores.
func TestReadersMayReportToTheDefaultBus(t *testing.T) {
	fx := example(t)
	pols := resources(fx.rootJS, "AWS::Events::EventBusPolicy")
	if len(pols) != 2 {
		t.Fatalf("%d event bus policies, want 2 (whole accounts, accounts narrowed to reader ARNs): %s", len(pols), js(pols))
	}
	for id, want := range map[string]struct{ sid, account, arns string }{
		// 210987654321 is a reader itself: any principal there may report.
		"ReadersReportExpiredToken": {"stsrotator-ReadersReport", "210987654321", ""},
		// 123456789012 reads only through two roles: only they may.
		"RoleReadersReportExpiredToken": {"stsrotator-RoleReadersReport", "123456789012",
			`{"aws:PrincipalArn":["arn:aws:iam::123456789012:role/CiRunner","arn:aws:iam::123456789012:role/ReportsJob"]}`},
	} {
		pp := props(pols[id])
		if pp["EventBusName"] != events.DefaultBus || pp["StatementId"] != want.sid {
			t.Errorf("%s: policy on bus %v with statement %v, want %s", id, pp["EventBusName"], pp["StatementId"], want.sid)
		}
		st, _ := pp["Statement"].(map[string]any)
		if st["Effect"] != "Allow" || st["Action"] != "events:PutEvents" {
			t.Errorf("%s: statement %s: want Allow events:PutEvents only", id, js(st))
		}
		principals := js(st["Principal"])
		if !strings.Contains(principals, `":iam::`+want.account+`:root"`) || !strings.Contains(principals, `{"Ref":"AWS::Partition"}`) || strings.Count(principals, ":root") != 1 {
			t.Errorf("%s: principals %s: want only the reader account %s's root in the stack's partition", id, principals, want.account)
		}
		cond, _ := st["Condition"].(map[string]any)
		if got := js(cond["ForAllValues:StringEquals"]) + js(cond["StringEquals"]); got != `{"events:source":["`+events.Source+`"]}{"events:detail-type":"`+events.DetailTypeExpiredToken+`"}` {
			t.Errorf("%s: source and detail-type conditions %s", id, got)
		}
		if got := js(cond["ArnEquals"]); want.arns == "" && cond["ArnEquals"] != nil || want.arns != "" && got != want.arns {
			t.Errorf("%s: ArnEquals %s, want %q", id, got, want.arns)
		}
		if res := js(st["Resource"]); !strings.Contains(res, ":event-bus/default") {
			t.Errorf("%s: resource %s: want the default bus", id, res)
		}
	}
	// The plan's size (what validate and synth refuse on) is what
	// quotacheck measures on the template, both statements together, but
	// for the longest stack name in each StatementId.
	src, err := os.ReadFile("../../stsrotator.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Load("stsrotator.yaml", src)
	if err != nil {
		t.Fatal(err)
	}
	got := quotacheck.Measure([]quotacheck.Template{{Name: "Root.json", Body: fx.rootJS}}).Max[quotas.EventBusPolicy.ID]
	if want := plan.ReportBusPolicySize(p.Config.Targets) - 2*(plan.MaxStackNameLen-len("stsrotator")); got != want {
		t.Errorf("quotacheck measures the bus policy at %d characters, the plan at %d (for the stack name stsrotator)", got, want)
	}
	n := 0
	for sid, tpl := range fx.shardJS {
		for id, fn := range resources(tpl, "AWS::Lambda::Function") {
			vars, _ := props(fn)["Environment"].(map[string]any)["Variables"].(map[string]any)
			bus := js(vars[lambdaenv.EventBus])
			if !strings.Contains(bus, ":event-bus/default") {
				t.Errorf("%s/%s: %s = %s, want the default bus ARN", sid, id, lambdaenv.EventBus, bus)
			}
			n++
		}
	}
	if n == 0 {
		t.Fatal("no rotator functions in the shard templates")
	}
}

// The bus policy's 10,240 characters hold about 250 reader accounts; a
// config with more fails synth naming the quota and the fix, where
// CloudFormation would have rolled back minutes into the deploy.
func TestTooManyReaderAccountsFailSynth(t *testing.T) {
	accounts := func(n int) []string {
		a := make([]string, n)
		for i := range a {
			a[i] = fmt.Sprintf("%012d", 300000000000+i)
		}
		return a
	}
	limit := quotas.EventBusPolicy.Limit
	readBy := func(n int) []config.Target { return []config.Target{{Name: "shared", Readers: accounts(n)}} }
	if n := stack.ReportBusPolicySize(readBy(250)); n > limit {
		t.Fatalf("250 reader accounts take %d characters, over %d", n, limit)
	}
	if n := stack.ReportBusPolicySize(readBy(260)); n <= limit {
		t.Fatalf("260 reader accounts take %d characters, under %d: the check cannot fail", n, limit)
	}

	// One target read from 260 accounts: the secret's own policy still
	// fits its 20 KB, the bus's does not; the plan refuses it before any
	// construct exists, as validate does.
	cfg := "targets:\n  - name: shared\n    roleArn: arn:aws:iam::123456789012:role/Shared\n    readers: [\"" + strings.Join(accounts(260), "\", \"") + "\"]\n"
	fx := build("many-readers.yaml", []byte(cfg))
	if fx.buildErr == nil || !strings.Contains(fx.buildErr.Error(), quotas.EventBusPolicy.Name) || !strings.Contains(fx.buildErr.Error(), "fix: fewer reader accounts") {
		t.Fatalf("260 reader accounts: %v", fx.buildErr)
	}
}
