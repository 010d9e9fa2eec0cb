package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// Nag runs the AWS Solutions rules of cdk-nag over everything in scope. A
// finding that is not suppressed — with its reason, beside the resource —
// becomes an error annotation, which fails the synth.
func Nag(scope constructs.IConstruct) {
	awscdk.Aspects_Of(scope).Add(checks(), nil)
}

func checks() cdknag.AwsSolutionsChecks {
	return cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)})
}

// NagService runs the AWS Solutions rules over every construct of the
// service and, of the per-target CloudFormation each shard includes
// (TargetTemplate), over the first shard's only. Every shard's targets come
// from that one function, and the only rule that applies to what it emits
// (AwsSolutions-SMG4, no native rotation on a secret) is suppressed with
// its reason on every secret; running all the rules over the 30,000
// resources of 10,000 targets would take most of the synth budget to
// repeat that one answer. Call it once the reactor and log watcher are
// added.
func NagService(s *Service) {
	pack := checks()
	shards := map[string]bool{}
	for _, sh := range s.Shards {
		shards[*sh.Stack.Node().Id()] = true
	}
	for _, c := range *s.Stack.Node().Children() {
		if !shards[*c.Node().Id()] {
			awscdk.Aspects_Of(c).Add(pack, nil)
		}
	}
	for i, sh := range s.Shards {
		for _, c := range *sh.Stack.Node().Children() {
			if i > 0 && *c.Node().Id() == *sh.Targets.Node().Id() {
				continue
			}
			awscdk.Aspects_Of(c).Add(pack, nil)
		}
	}
}
