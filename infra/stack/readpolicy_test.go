package stack_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stsrotator/stsrotator/infra/plan"
	"github.com/stsrotator/stsrotator/infra/plan/plantest"
	"github.com/stsrotator/stsrotator/infra/quotacheck"
	"github.com/stsrotator/stsrotator/infra/stack"
	"github.com/stsrotator/stsrotator/shared/quotas"
)

// Proves: the plan's worst-case size of a secret's resource policy (what
// validate and synth refuse on) is what quotacheck measures on the
// rendered template for the longest stack name, and bounds it for any
// shorter one: the two cannot disagree about a config.
func TestReadPolicyPlanBoundsTemplate(t *testing.T) {
	p, err := plan.Load("cfg.yaml", plantest.Readers(150))
	if err != nil {
		t.Fatal(err)
	}
	keys := plan.OutputKeys(p.Config)
	target := p.Config.Targets[0]
	want := plan.ReadPolicySize(target)
	for _, name := range []string{strings.Repeat("s", plan.MaxStackNameLen), plan.DefaultStackName} {
		body := stack.TargetTemplate(p.Config, name, p.Shards[0], keys, 5*time.Minute)
		got := quotacheck.Measure([]quotacheck.Template{{Name: "Shard.json", Body: body}}).Max[quotas.SecretResourcePolicy.ID]
		if name == plan.DefaultStackName && got > want || name != plan.DefaultStackName && got != want {
			t.Errorf("stack name %q: template measures %d characters, plan says %d", name, got, want)
		}
	}
}

// Proves: plan.Roles, which validate and synth refuse on, is the number
// of AWS::IAM::Role resources in the synthesized templates (the example:
// lanes, reactor and log watcher), so the plan's roles-per-account check
// counts what CloudFormation will create.
func TestPlanCountsTheRoles(t *testing.T) {
	fx := example(t)
	roles := 0
	count := func(tpl map[string]any) {
		rs, _ := tpl["Resources"].(map[string]any)
		for _, r := range rs {
			if m, _ := r.(map[string]any); m["Type"] == "AWS::IAM::Role" {
				roles++
			}
		}
	}
	count(fx.rootJS)
	for _, s := range fx.shardJS {
		count(s)
	}
	if fx.logSubsJS != nil {
		count(fx.logSubsJS)
	}
	if want := fx.plan.Roles(); roles != want || roles < 2*len(fx.plan.Lanes()) {
		t.Errorf("the templates hold %d roles, plan.Roles says %d", roles, want)
	}
}

// Proves: docs/scale.md's root-stack row says what the stack builds for
// a config without logGroups, like the 2,000- and 10,000-target ones:
// the fixed resources of the root (all of it but one nested stack per
// shard) and, with all 256 shards non-empty, that plus plan.Shards.
func TestScaleDocRootResources(t *testing.T) {
	fx := build("small.yaml", plantest.Config(3))
	if fx.buildErr != nil {
		t.Fatal(fx.buildErr)
	}
	rs, _ := fx.rootJS["Resources"].(map[string]any)
	fixed := len(rs) - len(fx.plan.Shards)
	doc, err := os.ReadFile("../../docs/scale.md")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("| Root stack resources | %d fixed + one per non-empty shard (≤ %d) + 4 with `logGroups` (log watcher and the log subscriptions' nested stack) | %d | 500 |", fixed, plan.Shards, fixed+plan.Shards)
	if !strings.Contains(string(doc), want) {
		t.Errorf("docs/scale.md lacks the row\n%s", want)
	}
}
