package plan

import (
	"fmt"
	"regexp"

	"github.com/stsrotator/stsrotator/shared/config"
)

// MaxStackNameLen keeps every rotator's function name within Lambda's 64
// characters (https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html#lambda-CreateFunction-request-FunctionName):
// the longest suffix is "-shard255-rotator99".
const MaxStackNameLen = 64 - len("-shard255-rotator99")

// reStackName is what CloudFormation accepts as a stack name
// (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStack.html#API_CreateStack_RequestParameters)
// and what a Lambda function name may carry.
var reStackName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]*$`)

// CheckStackName refuses a stack name CloudFormation or Lambda would reject
// later, at deploy time, in a less helpful way. The error does not name
// the flag or context key it came from; callers add that.
func CheckStackName(name string) error {
	if !reStackName.MatchString(name) || len(name) > MaxStackNameLen {
		return fmt.Errorf("not a usable stack name (fix: use 1–%d letters, digits and hyphens, starting with a letter; function names are built from it)", MaxStackNameLen)
	}
	return nil
}

// Load runs every check synth runs on a config before it builds the
// stacks: the config's own validation (config.Parse: fields, types,
// durations, AWS name rules) and the plan's (shard and lane capacity, IAM
// policy size). `cdk synth` and `stsrotator validate` both call it, so a
// config validate accepts is one synth accepts. file names the config in
// messages.
func Load(file string, data []byte) (*Plan, error) {
	return LoadIn(file, data, config.StackRegion{})
}

// LoadIn is Load for a stack whose region is known (config.ParseIn), so
// the region's own checks (replicaRegions never the stack's region) run
// before a deploy rather than fail in it.
func LoadIn(file string, data []byte, region config.StackRegion) (*Plan, error) {
	cfg, err := config.ParseIn(file, data, region)
	if err != nil {
		return nil, err
	}
	return New(cfg, data)
}

// EnvCDKRegion is the variable the CDK CLI passes an app the region it
// deploys an environment-agnostic stack to
// (https://docs.aws.amazon.com/cdk/v2/guide/configure-env.html).
const EnvCDKRegion = "CDK_DEFAULT_REGION"

// StackRegionFromEnv is the region a stack deploys to as far as the
// environment tells, for LoadIn: flag (a --region the user passed, named
// flagName), then AWS_REGION, then CDK_DEFAULT_REGION, the region the CDK
// CLI deploys an environment-agnostic stack to
// (https://docs.aws.amazon.com/cdk/v2/guide/configure-env.html). Empty
// when none is set: the stack is region-agnostic until deployed.
func StackRegionFromEnv(flagName, flag string, getenv func(string) string) config.StackRegion {
	if flag != "" {
		return config.StackRegion{Name: flag, From: flagName}
	}
	for _, k := range []string{"AWS_REGION", EnvCDKRegion} {
		if v := getenv(k); v != "" {
			return config.StackRegion{Name: v, From: k}
		}
	}
	return config.StackRegion{}
}
