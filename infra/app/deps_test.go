package main

import (
	"os/exec"
	"strings"
	"testing"
)

// GluePackages are the CDK's L2 "glue" packages (rule targets, event
// sources, alarm actions, subscriptions). Each imports the Go bindings of
// every service it can target, so any one of them brings back most of the
// CDK's service packages into a cold build; infra/stack writes what they
// would synthesise by hand (infra/stack/targets.go).
var GluePackages = []string{"awseventstargets", "awslambdaeventsources", "awscloudwatchactions", "awssnssubscriptions", "awsstepfunctionstasks", "awsroute53targets", "awselasticloadbalancingv2targets"}

// MaxCDKPackages bounds the CDK Go packages the CDK app and the local stack
// compile (187 with the glue packages, 103 without, CDK 2.276): each costs
// a cold `make local` about a CPU-second (docs/benchmarks.md, "make local
// from a cold cache"). A CDK upgrade that adds a few internal packages may
// raise it; a new import that pulls in dozens of services should not.
const MaxCDKPackages = 115

// Proves: the CDK app and the local stack import none of the CDK's glue
// packages and compile no more CDK packages than MaxCDKPackages, so a cold
// build does not silently grow back by a hundred packages.
func TestCDKDependenciesStayNarrow(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/stsrotator/stsrotator/infra/app", "github.com/stsrotator/stsrotator/cmd/stsrotator-local").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	n := 0
	for _, p := range strings.Fields(string(out)) {
		if !strings.HasPrefix(p, "github.com/aws/aws-cdk-go/") {
			continue
		}
		n++
		for _, g := range GluePackages {
			if strings.HasSuffix(p, "/"+g) {
				t.Errorf("%s is imported (it pulls in most of the CDK's service packages); write the resources it would add by hand, as infra/stack/targets.go does", p)
			}
		}
	}
	if n > MaxCDKPackages {
		t.Errorf("the CDK app and the local stack compile %d CDK packages, more than %d: a new import pulled in services it does not use (go list -deps ./infra/app ./cmd/stsrotator-local | grep aws-cdk-go)", n, MaxCDKPackages)
	}
}
