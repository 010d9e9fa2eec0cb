package stack_test

import (
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
