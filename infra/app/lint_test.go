package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stsrotator/stsrotator/infra/quotacheck"
)

// CfnLintVersion is the cfn-lint the issue names; .ci/run installs it when
// missing.
const CfnLintVersion = "1.51.0"

// AllowedWarnings are cfn-lint findings the templates keep, each with the
// reason docs/infra.md gives. W3005 ("dependency already enforced by a
// GetAtt") is CDK's own DependsOn from a function to its role, which
// cfn-lint considers redundant; it is harmless and CDK writes it.
var AllowedWarnings = map[string]string{"W3005": "CDK's redundant DependsOn on a function's role (docs/infra.md)"}

// lintFinding is one line of cfn-lint's parseable output.
type lintFinding struct{ File, Rule, Message string }

// cfnLint runs cfn-lint once over files (paths inside dir) and returns
// every finding.
func cfnLint(t *testing.T, dir string, files []string) []lintFinding {
	t.Helper()
	v, err := exec.Command("cfn-lint", "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(v), CfnLintVersion) {
		t.Fatalf("cfn-lint %s is needed (fix: python3 -m pip install 'cfn-lint==%s'; .ci/run does): %v %s", CfnLintVersion, CfnLintVersion, err, v)
	}
	args := append([]string{"--format", "parseable"}, files...)
	cmd := exec.Command("cfn-lint", args...)
	cmd.Dir = dir
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err = cmd.Run()
	// cfn-lint's exit code is a bit mask of what it found (2 errors, 4
	// warnings, 8 informational); anything else is a failure to run.
	if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode()&^(2|4|8) != 0) {
		t.Fatalf("cfn-lint: %v\n%s", err, stderr.String())
	}
	var fs []lintFinding
	sc := bufio.NewScanner(&out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		// file:line:col:endline:endcol:rule:message
		parts := strings.SplitN(sc.Text(), ":", 7)
		if len(parts) == 7 {
			fs = append(fs, lintFinding{File: parts[0], Rule: parts[5], Message: parts[6]})
		}
	}
	return fs
}

// checkLint fails on every error and every warning outside
// AllowedWarnings, and logs how many allowed ones were seen.
func checkLint(t *testing.T, what string, fs []lintFinding) {
	t.Helper()
	allowed := map[string]int{}
	for _, f := range fs {
		if _, ok := AllowedWarnings[f.Rule]; ok {
			allowed[f.Rule]++
			continue
		}
		t.Errorf("%s: cfn-lint %s in %s: %s", what, f.Rule, f.File, f.Message)
	}
	t.Logf("%s: cfn-lint %s: %d findings, all allowed: %v", what, CfnLintVersion, len(fs), allowed)
}

// lintSet picks the templates to lint: every template that is not a
// shard, and of the shards one per skeleton — a shard's resources and
// outputs with logical IDs, names, ARNs and other string values taken out
// and repeated parts counted once (skeleton). Shards with one skeleton
// differ only in those names and in how many targets and lanes repeat the
// same resources, which come from one Go function (TargetTemplate) and one
// lane constructor; linting each of 256 shards of 10,000 targets would
// take cfn-lint over five minutes on two cores. It returns the files to
// lint and, for each, how many templates it stands for.
func lintSet(ts []quotacheck.Template) (files []string, stands map[string]int) {
	stands = map[string]int{}
	bySkeleton := map[string]quotacheck.Template{}
	count := map[string]int{}
	for _, t := range ts {
		if !strings.Contains(t.Name, "Shard") {
			files = append(files, t.Name)
			stands[t.Name] = 1
			continue
		}
		k := skeleton(t.Body)
		count[k]++
		// The largest shard of a skeleton represents it.
		if cur, ok := bySkeleton[k]; !ok || t.Bytes > cur.Bytes {
			bySkeleton[k] = t
		}
	}
	for k, t := range bySkeleton {
		files = append(files, t.Name)
		stands[t.Name] = count[k]
	}
	sort.Strings(files)
	return files, stands
}

// structural are property keys whose string values are AWS keywords, not
// names: they stay in a skeleton.
var structural = map[string]bool{
	"Type": true, "DeletionPolicy": true, "UpdateReplacePolicy": true, "Effect": true, "Action": true, "Service": true,
	"Runtime": true, "Handler": true, "ComparisonOperator": true, "TreatMissingData": true, "State": true, "LogFormat": true,
	"Stat": true, "Namespace": true, "MetricName": true, "Mode": true, "Version": true, "ScheduleExpression": true,
}

// skeleton is a template's shape: the set of its resources' and outputs'
// shapes (shape), sorted.
func skeleton(body map[string]any) string {
	var parts []string
	for _, sec := range []string{"Resources", "Outputs", "Parameters"} {
		m, _ := body[sec].(map[string]any)
		set := map[string]bool{}
		for _, v := range m {
			set[sec+":"+shape("", v)] = true
		}
		for k := range set {
			parts = append(parts, k)
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, "\n")
}

// shape renders v with every string that is not under a structural key
// replaced by "s", lists reduced to their distinct shapes and maps keyed
// by logical ID (DependsOn-like lists, Ref and GetAtt targets) treated
// like any other string.
func shape(key string, v any) string {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		b.WriteString("{")
		for _, k := range keys {
			fmt.Fprintf(&b, "%q:%s,", k, shape(k, x[k]))
		}
		b.WriteString("}")
		return b.String()
	case []any:
		set := map[string]bool{}
		for _, e := range x {
			set[shape(key, e)] = true
		}
		var ss []string
		for s := range set {
			ss = append(ss, s)
		}
		sort.Strings(ss)
		return "[" + strings.Join(ss, ",") + "]"
	case string:
		if structural[key] {
			b, _ := json.Marshal(x)
			return string(b)
		}
		return `"s"`
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

// Proves (issue 11): cfn-lint 1.51.0 finds no error and no warning but the
// allowed W3005 in any template of the repository's example config.
func TestCfnLintExample(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	out, _, err := makeSynth(t, "-o", dir)
	if err != nil {
		t.Fatalf("make synth: %v\n%s", err, out)
	}
	ts, err := quotacheck.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, tpl := range ts {
		files = append(files, tpl.Name)
	}
	checkLint(t, fmt.Sprintf("the example's %d templates", len(files)), cfnLint(t, dir, files))
}

// Proves: the skeleton keeps what tells shards apart structurally and
// drops only names and repetition: two shards whose targets differ in
// names and number match, a shard whose target gained readers by account
// (another policy shape) does not.
func TestSkeleton(t *testing.T) {
	secret := func(name string) map[string]any {
		return map[string]any{"Type": "AWS::SecretsManager::Secret", "DeletionPolicy": "Retain", "Properties": map[string]any{"Name": name}}
	}
	policy := func(cond string) map[string]any {
		return map[string]any{"Type": "AWS::SecretsManager::ResourcePolicy", "Properties": map[string]any{"ResourcePolicy": map[string]any{
			"Statement": []any{map[string]any{"Effect": "Deny", "Condition": map[string]any{cond: map[string]any{"k": []any{"a", "b"}}}}}}}}
	}
	a := map[string]any{"Resources": map[string]any{"SecretA": secret("a"), "ReadPolicyA": policy("ArnNotLike")}}
	b := map[string]any{"Resources": map[string]any{"SecretB": secret("b"), "ReadPolicyB": policy("ArnNotLike"), "SecretC": secret("c"), "ReadPolicyC": policy("ArnNotLike")}}
	c := map[string]any{"Resources": map[string]any{"SecretD": secret("d"), "ReadPolicyD": policy("StringNotEquals")}}
	if skeleton(a) != skeleton(b) {
		t.Error("shards differing only in names and repetition have different skeletons")
	}
	if skeleton(a) == skeleton(c) {
		t.Error("shards with different policy shapes share a skeleton")
	}
}
