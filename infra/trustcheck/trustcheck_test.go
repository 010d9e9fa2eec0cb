package trustcheck_test

import (
	"strings"
	"testing"

	"github.com/stsrotator/stsrotator/infra/plan"
	"github.com/stsrotator/stsrotator/infra/trustcheck"
	"github.com/stsrotator/stsrotator/shared/config"
)

// Proves the checker catches each kind of fault it exists for, on the
// plan's own policy with one thing broken at a time, and passes the
// policy the plan builds.
func TestCheckCatchesPatterns(t *testing.T) {
	src := []byte("targets:\n  - name: app\n    roleArn: arn:aws:iam::123456789012:role/App\n")
	cfg, err := config.Parse("c.yaml", src)
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.New(cfg, src)
	if err != nil {
		t.Fatal(err)
	}
	tg := cfg.Targets[0]
	build := func(mutate func(role, pol map[string]any)) []trustcheck.Template {
		role := map[string]any{"Type": "AWS::IAM::Role", "Properties": map[string]any{"RoleName": plan.RotatorRoleName("s", plan.ShardOf("app"))}}
		doc := plan.ReadPolicy("s", "hnb659fds", tg)
		pol := map[string]any{"Type": "AWS::SecretsManager::ResourcePolicy", "Metadata": map[string]any{"stsrotator:target": "app"}, "Properties": map[string]any{"ResourcePolicy": doc}}
		if mutate != nil {
			mutate(role, pol)
		}
		return []trustcheck.Template{{Name: "t", Body: map[string]any{"Resources": map[string]any{"R": role, "P": pol}}}}
	}
	if errs := trustcheck.Check(build(nil), "s", "hnb659fds", p); len(errs) > 0 {
		t.Fatalf("the plan's own policy: %v", errs)
	}
	stmt := func(pol map[string]any, sid string) map[string]any {
		for _, s := range pol["Properties"].(map[string]any)["ResourcePolicy"].(map[string]any)["Statement"].([]any) {
			if s.(map[string]any)["Sid"] == sid {
				return s.(map[string]any)
			}
		}
		return nil
	}
	for _, c := range []struct {
		fault  string
		mutate func(role, pol map[string]any)
		say    string
	}{
		{"the old path exemption", func(_, pol map[string]any) {
			stmt(pol, "OnlyReadersAndStsrotatorRead")["Condition"] = map[string]any{"ArnNotLike": map[string]any{"aws:PrincipalArn": "arn:aws:iam::1:role/s/rotator/*"}}
		}, "names principals by pattern"},
		{"a rotator role with a generated name", func(role, _ map[string]any) { delete(role["Properties"].(map[string]any), "RoleName") }, "want exactly one with that literal RoleName"},
		{"a rotator role on the old path", func(role, _ map[string]any) { role["Properties"].(map[string]any)["Path"] = "/s/rotator/" }, "under the rotator path"},
		{"a write left to IAM", func(_, pol map[string]any) {
			delete(stmt(pol, "OnlyTheRotatorWrites"), "NotAction")
			stmt(pol, "OnlyTheRotatorWrites")["Action"] = []any{"secretsmanager:PutSecretValue"}
		}, "is not a Deny (NotAction"},
		{"a write action added to the exempt reads", func(_, pol map[string]any) {
			s := stmt(pol, "OnlyTheRotatorWrites")
			s["NotAction"] = append(s["NotAction"].([]string), "secretsmanager:AssociateCrossAccountReplica")
		}, "is not a Deny (NotAction"},
		{"an exemption wider than the two roles", func(_, pol map[string]any) {
			stmt(pol, "OnlyTheRotatorWrites")["Condition"] = map[string]any{"ArnNotEquals": map[string]any{"aws:PrincipalArn": []any{"arn:aws:iam::1:role/Admin"}}}
		}, "want exactly the rotator and execution roles"},
		{"aws:CalledVia instead of the exact execution role", func(_, pol map[string]any) {
			c := stmt(pol, "OnlyTheRotatorWrites")["Condition"].(map[string]any)
			c["ForAllValues:StringNotEquals"] = map[string]any{"aws:CalledVia": "cloudformation.amazonaws.com"}
		}, "has other conditions"},
		{"no tag deny", func(_, pol map[string]any) {
			stmt(pol, "OnlyTheRotatorTagsStsrotatorKeys")["Sid"] = "Other"
		}, "no OnlyTheRotatorTagsStsrotatorKeys statement"},
	} {
		errs := trustcheck.Check(build(c.mutate), "s", "hnb659fds", p)
		var msgs []string
		for _, e := range errs {
			msgs = append(msgs, e.Error())
		}
		if !strings.Contains(strings.Join(msgs, "\n"), c.say) {
			t.Errorf("%s: %v, want an error saying %q", c.fault, msgs, c.say)
		}
	}
}
