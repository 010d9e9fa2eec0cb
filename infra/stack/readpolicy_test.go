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
		body := stack.TargetTemplate(p.Config, name, strings.Repeat("q", plan.MaxCDKQualifierLen), p.Shards[0], keys, 5*time.Minute)
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
	if want := fx.plan.Roles(); roles != want || roles < len(fx.plan.Shards)+len(fx.plan.Lanes()) {
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

// Proves: a lane whose targets use many replica regions still fits IAM's
// 10,240 characters of inline policy on its role: the plan charges each
// distinct region's EncryptReplicasIn<Region> statement to the lane's
// budget, so validate and synth agree (before, such a lane passed the
// plan and crossed the quota only in the synthesized template).
func TestReplicaStatementsFitTheLanePolicy(t *testing.T) {
	var b strings.Builder
	b.WriteString("targets:\n")
	for i, n := 0, 0; n < 60; i++ {
		name := fmt.Sprintf("replicated-%d", i)
		if plan.ShardOf(name) != 7 {
			continue
		}
		n++
		fmt.Fprintf(&b, "  - name: %s\n    roleArn: arn:aws:iam::123456789012:role/workloads/ReplicatedWorkload%04d\n    secretName: workloads/replicated/%04d/credentials\n", name, i, i)
		b.WriteString("    replicaRegions: [us-west-1, us-west-2, eu-west-1, eu-west-2, eu-central-1, ap-southeast-1, ap-northeast-1, ca-central-1]\n")
	}
	fx := build("replicated.yaml", []byte(b.String()))
	if fx.buildErr != nil {
		t.Fatal(fx.buildErr)
	}
	var ts []quotacheck.Template
	for name, tpl := range allTemplates(fx) {
		ts = append(ts, quotacheck.Template{Name: name, Body: tpl, Bytes: len(js(tpl))})
	}
	f := quotacheck.Measure(ts)
	if got := f.Max[quotas.RoleInlinePolicies.ID]; got > quotas.RoleInlinePolicies.Limit || len(fx.plan.Lanes()) < 2 {
		t.Errorf("largest inline policy %d of %d characters (%s) in %d lanes", got, quotas.RoleInlinePolicies.Limit, f.Where[quotas.RoleInlinePolicies.ID], len(fx.plan.Lanes()))
	}
	if got := f.Max[quotas.ManagedPolicy.ID]; got > quotas.ManagedPolicy.Limit {
		t.Errorf("largest lane managed policy %d of %d characters (%s)", got, quotas.ManagedPolicy.Limit, f.Where[quotas.ManagedPolicy.ID])
	}
	t.Logf("%d lanes; largest inline policy %d characters", len(fx.plan.Lanes()), f.Max[quotas.RoleInlinePolicies.ID])
}
