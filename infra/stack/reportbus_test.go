package stack_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stsrotator/stsrotator/infra/stack"
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
	if len(pols) != 1 {
		t.Fatalf("%d event bus policies, want 1: %s", len(pols), js(pols))
	}
	for _, p := range pols {
		pp := props(p)
		if pp["EventBusName"] != events.DefaultBus || pp["StatementId"] != "stsrotator-ReadersReport" {
			t.Errorf("policy on bus %v with statement %v", pp["EventBusName"], pp["StatementId"])
		}
		st, _ := pp["Statement"].(map[string]any)
		if st["Effect"] != "Allow" || st["Action"] != "events:PutEvents" {
			t.Errorf("statement %s: want Allow events:PutEvents only", js(st))
		}
		principals := js(st["Principal"])
		if !strings.Contains(principals, `":iam::210987654321:root"`) || !strings.Contains(principals, `{"Ref":"AWS::Partition"}`) {
			t.Errorf("principals %s: want the reader account 210987654321's root in the stack's partition", principals)
		}
		cond := js(st["Condition"])
		if want := `{"ForAllValues:StringEquals":{"events:source":["` + events.Source + `"]},"StringEquals":{"events:detail-type":"` + events.DetailTypeExpiredToken + `"}}`; cond != want {
			t.Errorf("condition %s, want %s", cond, want)
		}
		if res := js(st["Resource"]); !strings.Contains(res, ":event-bus/default") {
			t.Errorf("resource %s: want the default bus", res)
		}
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
	if n := stack.ReportBusPolicySize(accounts(250)); n > limit {
		t.Fatalf("250 reader accounts take %d characters, over %d", n, limit)
	}
	if n := stack.ReportBusPolicySize(accounts(260)); n <= limit {
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
