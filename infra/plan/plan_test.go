package plan

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stsrotator/stsrotator/infra/plan/plantest"
	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/lambdaenv"
	"github.com/stsrotator/stsrotator/shared/quotas"
)

func mustPlan(t *testing.T, src []byte) *Plan {
	t.Helper()
	cfg, err := config.Parse("cfg.yaml", src)
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(cfg, src)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Every target lands in exactly one shard and one lane, the shard its name
// hashes to, and lanes stay inside the policy budget and target cap.
func TestEveryTargetPlacedOnce(t *testing.T) {
	for _, n := range []int{1, 3, 200, 2000} {
		p := mustPlan(t, plantest.Config(n))
		seen := map[string]int{}
		for _, s := range p.Shards {
			if len(s.Targets) > MaxTargetsPerShard {
				t.Errorf("n=%d: %s holds %d targets, above %d", n, s.ID, len(s.Targets), MaxTargetsPerShard)
			}
			inLanes := 0
			for _, l := range s.Lanes {
				inLanes += len(l.Targets)
				cost := 0
				for _, tg := range l.Targets {
					cost += TargetPolicyCost(tg)
					seen[tg.Name]++
					if ShardOf(tg.Name) != s.Index {
						t.Errorf("n=%d: %s is in %s, but hashes to %d", n, tg.Name, s.ID, ShardOf(tg.Name))
					}
				}
				if cost > PolicyBudget || len(l.Targets) > MaxTargetsPerLane {
					t.Errorf("n=%d: %s/%s: %d targets costing %d chars, over budget", n, s.ID, l.ID, len(l.Targets), cost)
				}
			}
			if inLanes != len(s.Targets) {
				t.Errorf("n=%d: %s: lanes hold %d of %d targets", n, s.ID, inLanes, len(s.Targets))
			}
		}
		if len(seen) != n {
			t.Fatalf("n=%d: placed %d distinct targets", n, len(seen))
		}
		for name, c := range seen {
			if c != 1 {
				t.Errorf("n=%d: %s placed %d times", n, name, c)
			}
		}
	}
}

// Adding targets never moves an existing target's secret to another shard:
// placement depends on the name alone.
func TestPlacementIsStableUnderGrowth(t *testing.T) {
	small, big := mustPlan(t, plantest.Config(100)), mustPlan(t, plantest.Config(2000))
	where := func(p *Plan) map[string]string {
		m := map[string]string{}
		for _, s := range p.Shards {
			for _, tg := range s.Targets {
				m[tg.Name] = s.ID
			}
		}
		return m
	}
	ws, wb := where(small), where(big)
	for name, id := range ws {
		if wb[name] != id {
			t.Errorf("%s moved from %s to %s when the config grew", name, id, wb[name])
		}
	}
}

// A config that fits one lane ships the file exactly as written, at the
// path the rotator reads by default, with no override variable.
func TestSingleLaneReadsTheFileAsWritten(t *testing.T) {
	src := []byte("# keep me\ntargets:\n  - name: app\n    roleArn: arn:aws:iam::123456789012:role/App\n")
	p := mustPlan(t, src)
	ls := p.Lanes()
	if len(ls) != 1 || ls[0].ConfigFile != lambdaenv.ConfigFile || ls[0].ConfigEnv != "" || string(ls[0].Config) != string(src) {
		t.Fatalf("got %+v", ls)
	}
	if f := p.Files(); len(f) != 1 || string(f[lambdaenv.ConfigFile]) != string(src) {
		t.Fatalf("files: %v", f)
	}
}

// With several lanes, each reads a file that validates to exactly its own
// targets — defaults, rotator and alerts settings kept — and the original
// file is shipped too.
func TestLaneConfigsValidateToTheirTargets(t *testing.T) {
	src := plantest.Config(300)
	p := mustPlan(t, src)
	files := p.Files()
	if string(files[lambdaenv.ConfigFile]) != string(src) {
		t.Fatal("the original config is not shipped unchanged")
	}
	for _, l := range p.Lanes() {
		if !strings.HasPrefix(l.ConfigFile, LaneDir+"/") || l.ConfigEnv != TaskRoot+"/"+l.ConfigFile {
			t.Fatalf("lane file %q env %q", l.ConfigFile, l.ConfigEnv)
		}
		cfg, err := config.Parse(l.ConfigFile, files[l.ConfigFile])
		if err != nil {
			t.Fatalf("%s: %v", l.ConfigFile, err)
		}
		if !sameTargets(cfg.Targets, l.Targets) {
			t.Fatalf("%s declares other targets than its lane", l.ConfigFile)
		}
		if len(cfg.Alerts.Emails) != 1 || cfg.Targets[0].Tags[0].Key != "team" {
			t.Fatalf("%s lost settings outside targets: %+v", l.ConfigFile, cfg)
		}
	}
}

// Long role ARNs split a shard into several lanes rather than overflowing
// the role's inline-policy limit.
func TestLongARNsSplitLanes(t *testing.T) {
	var b strings.Builder
	b.WriteString("targets:\n")
	long := strings.Repeat("p/", 240)
	n := 0
	for i := 0; n < 30; i++ {
		name := fmt.Sprintf("t%d", i)
		if ShardOf(name) != 0 {
			continue
		}
		b.WriteString("  - name: " + name + "\n    roleArn: arn:aws:iam::123456789012:role/" + long + name + "\n")
		n++
	}
	p := mustPlan(t, []byte(b.String()))
	if len(p.Shards) != 1 || len(p.Shards[0].Lanes) < 2 {
		t.Fatalf("want one shard split into lanes, got %d shards, %d lanes", len(p.Shards), len(p.Shards[0].Lanes))
	}
}

// Output keys are letters and digits only and distinct even when CamelCase
// alone would collide.
func TestOutputKeys(t *testing.T) {
	cfg, err := config.Parse("c.yaml", []byte("targets:\n  - name: a-1\n    roleArn: arn:aws:iam::123456789012:role/A\n  - name: a1\n    roleArn: arn:aws:iam::123456789012:role/A\n  - name: billing-reader\n    roleArn: arn:aws:iam::123456789012:role/A\n"))
	if err != nil {
		t.Fatal(err)
	}
	keys := OutputKeys(cfg)
	if keys["billing-reader"] != "BillingReader" {
		t.Errorf("billing-reader: %q", keys["billing-reader"])
	}
	if keys["a-1"] == keys["a1"] || !strings.HasPrefix(keys["a1"], "A1") {
		t.Errorf("collision not resolved: %v", keys)
	}
	for _, k := range keys {
		for _, r := range k {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				t.Errorf("%q is not alphanumeric", k)
			}
		}
	}
}

// shardConfig is a config of n targets whose names all hash to shard 7,
// each listing logGroups from groups (may be nil).
func shardConfig(n int) []byte {
	var b strings.Builder
	b.WriteString("targets:\n")
	for i, k := 0, 0; k < n; i++ {
		if name := fmt.Sprintf("t%d", i); ShardOf(name) == 7 {
			fmt.Fprintf(&b, "  - name: %s\n    roleArn: arn:aws:iam::123456789012:role/R\n", name)
			k++
		}
	}
	return []byte(b.String())
}

// Proves (issue 11's quota guard, at the edge): a shard holding exactly
// MaxTargetsPerShard targets — its stack's outputs exactly at
// CloudFormation's 200 — is planned; one more target in that shard fails
// with the file, the shard, the quota, its AWS page and the fix, instead
// of a template CloudFormation would reject.
func TestShardAtTheOutputsQuota(t *testing.T) {
	if MaxTargetsPerShard*OutputsPerTarget != quotas.StackOutputs.Limit {
		t.Fatalf("MaxTargetsPerShard %d does not fill the %d outputs a stack may have", MaxTargetsPerShard, quotas.StackOutputs.Limit)
	}
	p := mustPlan(t, shardConfig(MaxTargetsPerShard))
	if len(p.Shards) != 1 || p.Shards[0].Outputs() != quotas.StackOutputs.Limit || p.Shards[0].Resources() > quotas.StackResources.Limit {
		t.Fatalf("at the edge: %d shards, %d outputs, %d resources", len(p.Shards), p.Shards[0].Outputs(), p.Shards[0].Resources())
	}
	src := shardConfig(MaxTargetsPerShard + 1)
	cfg, err := config.Parse("big.yaml", src)
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(cfg, src)
	var ex *quotas.ExceededError
	if !errors.As(err, &ex) || ex.Quota.ID != quotas.StackOutputs.ID || ex.Got != quotas.StackOutputs.Limit+OutputsPerTarget {
		t.Fatalf("one over: %v", err)
	}
	for _, want := range []string{"big.yaml: the 101 targets whose names hash to shard stack Shard007", "202 outputs, over AWS's limit of 200", quotas.StackOutputs.Doc, "fix: "} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
}

// Proves (at the edge): MaxLogGroups distinct log groups — one
// subscription filter each, filling the LogSubscriptions stack's 500
// resources — are planned, and one more group fails with the quota and
// the fix. (The config already refuses a group listed by two targets.)
func TestLogGroupsAtTheResourcesQuota(t *testing.T) {
	build := func(n int) []byte {
		var b strings.Builder
		b.WriteString("targets:\n")
		for i := 0; i < n; i += 100 {
			fmt.Fprintf(&b, "  - name: t%d\n    roleArn: arn:aws:iam::123456789012:role/R\n    logGroups:\n", i)
			for j := i; j < min(i+100, n); j++ {
				fmt.Fprintf(&b, "      - /app/group-%04d\n", j)
			}
		}
		return []byte(b.String())
	}
	p := mustPlan(t, build(MaxLogGroups))
	if got := len(p.LogGroups()); got != MaxLogGroups {
		t.Fatalf("%d distinct log groups planned, want %d", got, MaxLogGroups)
	}
	src := build(MaxLogGroups + 1)
	cfg, err := config.Parse("groups.yaml", src)
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(cfg, src)
	var ex *quotas.ExceededError
	if !errors.As(err, &ex) || ex.Quota.ID != quotas.StackResources.ID || !strings.Contains(err.Error(), "groups.yaml: logGroups: 501 distinct log groups") || !strings.Contains(err.Error(), "fix: list at most 500") {
		t.Fatalf("one over: %v", err)
	}
}

// Proves: 10,000 targets — issue 11's size — fit one config: every shard
// inside its stack's outputs and resources, at most Shards nested stacks.
func TestTenThousandTargetsFit(t *testing.T) {
	p := mustPlan(t, plantest.Config(10_000))
	most := 0
	for _, s := range p.Shards {
		most = max(most, len(s.Targets))
	}
	t.Logf("10,000 targets: %d shards, the fullest holds %d (limit %d), %d lanes", len(p.Shards), most, MaxTargetsPerShard, len(p.Lanes()))
	if len(p.Shards) > Shards || most > MaxTargetsPerShard {
		t.Fatalf("%d shards, fullest %d", len(p.Shards), most)
	}
}
