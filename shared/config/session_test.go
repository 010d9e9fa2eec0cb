package config

import (
	"errors"
	"strings"
	"testing"
)

// Default session names are the stack's, so two stacks rotating one role
// never share one; the default stack keeps the names of earlier releases.
func TestDefaultSessionName(t *testing.T) {
	long := strings.Repeat("s", 100)
	target := strings.Repeat("t", MaxNameLen)
	cases := []struct {
		why, stack, target, want string
	}{
		{"no stack name: the default stack", "", "billing", "stsrotator-billing"},
		{"the default stack keeps the earlier names", DefaultStack, "billing", "stsrotator-billing"},
		{"another stack gets its own", "stsrotator-eu", "billing", "stsrotator-eu.billing"},
		{"exactly 64 characters fit", strings.Repeat("s", 64-1-len("billing")), "billing", strings.Repeat("s", 64-1-len("billing")) + ".billing"},
	}
	for _, c := range cases {
		if got := DefaultSessionName(c.stack, c.target); got != c.want {
			t.Errorf("%s: DefaultSessionName(%q, %q) = %q, want %q", c.why, c.stack, c.target, got, c.want)
		}
	}
	// Too long: cut, with a hash of the whole stack name, so two long
	// stack names that differ only at the end stay distinct.
	a, b := DefaultSessionName(long+"a", target), DefaultSessionName(long+"b", target)
	for _, n := range []string{a, b} {
		if len(n) > MaxSessionNameLen || !reSession.MatchString(n) || !strings.HasSuffix(n, "."+target) {
			t.Errorf("%q is not a valid STS session name ending in the target", n)
		}
	}
	if a == b {
		t.Errorf("two long stack names share the session name %q", a)
	}
}

// With a hyphen between stack and target, stack stsrotator-prod's target
// billing and stack stsrotator's target prod-billing (a config PR away)
// were both stsrotator-prod-billing: one identity for two deployments
// rotating one role, so revoking either denied the other. No two
// (stack, target) pairs share a default session name, including the
// long names cut and hashed.
func TestAbuse_DefaultSessionNameCollision(t *testing.T) {
	stacks := []string{"", DefaultStack, "stsrotator-prod", "stsrotator-prod-eu", "a", "a-b", "a-b-c", strings.Repeat("s", 30), strings.Repeat("s", 30) + "-x", strings.Repeat("s", 60), strings.Repeat("s", 61)}
	targets := []string{"billing", "prod-billing", "eu-billing", "prod-eu-billing", "b", "b-c", "c", "x-" + strings.Repeat("t", 30), strings.Repeat("t", MaxNameLen)}
	seen := map[string]string{}
	for _, st := range stacks {
		for _, tg := range targets {
			n := DefaultSessionName(st, tg)
			if len(n) > MaxSessionNameLen || !reSession.MatchString(n) {
				t.Errorf("DefaultSessionName(%q, %q) = %q is no STS session name", st, tg, n)
			}
			key := st
			if key == "" {
				key = DefaultStack
			}
			key += " / " + tg
			if other, dup := seen[n]; dup && other != key {
				t.Errorf("%s and %s share the session name %q", other, key, n)
			}
			seen[n] = key
		}
	}
}

// InStack moves targets without a sessionName onto the stack's defaults,
// keeps explicit ones, and refuses a collision the move creates.
func TestInStack(t *testing.T) {
	cfg, err := Parse("s.yaml", []byte("targets:\n  - name: a\n    roleArn: arn:aws:iam::123456789012:role/R\n  - name: b\n    roleArn: arn:aws:iam::123456789012:role/R\n    sessionName: ops-b\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Targets[0].SessionName != "stsrotator-a" {
		t.Fatalf("Parse gives the default stack's name, got %q", cfg.Targets[0].SessionName)
	}
	if err := cfg.InStack("eu"); err != nil || cfg.Targets[0].SessionName != "eu.a" || cfg.Targets[1].SessionName != "ops-b" {
		t.Fatalf("InStack(eu): %v %+v", err, cfg.Targets)
	}
	// Target b's own name is what target a gets by default in stack "ops".
	clash, err := Parse("c.yaml", []byte("targets:\n  - name: b\n    roleArn: arn:aws:iam::123456789012:role/R\n  - name: x\n    roleArn: arn:aws:iam::123456789012:role/R\n    sessionName: ops.b\n"))
	if err != nil {
		t.Fatal(err)
	}
	var fes Errors
	if err := clash.InStack("ops"); !errors.As(err, &fes) || !strings.Contains(err.Error(), `target b (line 2) and target x (line 4) both assume role arn:aws:iam::123456789012:role/R with session name "ops.b"`) {
		t.Fatalf("InStack(ops) must refuse the collision: %v", err)
	}
}
