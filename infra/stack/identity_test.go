package stack_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stsrotator/stsrotator/infra/plan"
	"github.com/stsrotator/stsrotator/infra/trustcheck"
)

func trustTemplates(fx *fixture) []trustcheck.Template {
	var ts []trustcheck.Template
	for name, tpl := range allTemplates(fx) {
		ts = append(ts, trustcheck.Template{Name: name, Body: tpl})
	}
	return ts
}

// Proves (issue 18): the example's and the 2,000-target config's templates
// trust exact identities only — no trust, exemption or output names a
// principal by pattern or the old rotator path, every shard's rotator role
// has its literal name, every target secret denies writes to all but its
// rotator and the execution role (infra/trustcheck; the 10,000-target
// templates are checked the same way in infra/app's TestSynthBudget).
func TestExactIdentities(t *testing.T) {
	for _, c := range []struct {
		name string
		fx   func(*testing.T) *fixture
	}{{"example", example}, {"2,000 targets", big}} {
		fx := c.fx(t)
		for _, err := range trustcheck.Check(trustTemplates(fx), "stsrotator", plan.CDKQualifierDefault, fx.plan) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

// rotatorRoleOf maps each target to the RoleName of the role its lane's
// function runs as, read from the synthesized shard templates.
func rotatorRoleOf(t *testing.T, fx *fixture) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, sh := range fx.plan.Shards {
		tpl := fx.shardJS[sh.ID]
		roles := resources(tpl, "AWS::IAM::Role")
		for _, l := range sh.Lanes {
			for id, fn := range resources(tpl, "AWS::Lambda::Function") {
				if props(fn)["FunctionName"] != plan.FunctionName("stsrotator", sh.ID, l.ID) {
					continue
				}
				ref := props(fn)["Role"].(map[string]any)["Fn::GetAtt"].([]any)[0].(string)
				name, ok := props(roles[ref])["RoleName"].(string)
				if !ok {
					t.Fatalf("%s/%s runs as %s, which has no literal RoleName", sh.ID, id, ref)
				}
				for _, tg := range l.Targets {
					out[tg.Name] = name
				}
			}
		}
	}
	return out
}

// shardConfig is a config of n targets whose names all hash to shard 7,
// with long role ARNs and secret names so the shard needs several lanes;
// names start at index from.
func shardConfig(from, n int) string {
	var b strings.Builder
	b.WriteString("targets:\n")
	for i, k := from, 0; k < n; i++ {
		name := fmt.Sprintf("lane-mover-%d", i)
		if plan.ShardOf(name) != 7 {
			continue
		}
		k++
		fmt.Fprintf(&b, "  - name: %s\n    roleArn: arn:aws:iam::123456789012:role/workloads/with/a/long/path/for/lane/packing/MoverRole%05d\n    secretName: workloads/with/a/long/path/for/lane/packing/and/more/mover-%05d/credentials\n", name, i, i)
	}
	return b.String()
}

// Proves: a target's rotator role name, which target roles trust, does
// not change when other targets are added or removed, even when its lane
// does: one shard packed into several lanes is synthesized twice, the
// second time without its first targets and with new ones, which moves
// targets to other lanes; every target in both keeps its RoleName.
func TestRotatorRoleNamesSurviveConfigChanges(t *testing.T) {
	src := shardConfig(0, 60)
	before := build("before.yaml", []byte(src))
	if before.buildErr != nil {
		t.Fatal(before.buildErr)
	}
	// The first ten targets removed, ten others added at the end.
	head, body, _ := strings.Cut(src, "targets:\n")
	entries := strings.Split(body, "  - name: ")[1:]
	after := build("after.yaml", []byte(head+"targets:\n  - name: "+strings.Join(entries[10:], "  - name: ")+strings.TrimPrefix(shardConfig(100_000, 10), "targets:\n")))
	if after.buildErr != nil {
		t.Fatal(after.buildErr)
	}
	r1, r2 := rotatorRoleOf(t, before), rotatorRoleOf(t, after)
	kept, lanesMoved := 0, 0
	lane := func(fx *fixture, name string) string {
		for _, sh := range fx.plan.Shards {
			for _, l := range sh.Lanes {
				for _, tg := range l.Targets {
					if tg.Name == name {
						return sh.ID + "/" + l.ID
					}
				}
			}
		}
		return ""
	}
	for name, role := range r1 {
		got, ok := r2[name]
		if !ok {
			continue
		}
		kept++
		if got != role {
			t.Errorf("target %s: rotator role %s became %s", name, role, got)
		}
		if lane(before, name) != lane(after, name) {
			lanesMoved++
		}
	}
	if kept != 50 || len(r1) != 60 || len(r2) != 60 || len(before.plan.Lanes()) < 2 || lanesMoved == 0 {
		t.Fatalf("%d targets in both synths (%d before, %d after) in %d lanes, %d moved: the test proves nothing", kept, len(r1), len(r2), len(before.plan.Lanes()), lanesMoved)
	}
	t.Logf("%d targets in both synths, %d of them in another lane after the change (%d lanes), all with the same rotator role", kept, lanesMoved, len(before.plan.Lanes()))
}
