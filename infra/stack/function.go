package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// newGoFunction is one of our Lambdas, construct ID "Function" under scope:
// the Go bootstrap in codeDir on provided.al2023/arm64, logging JSON.
// props carries the rest (name, role, sizes, log group).
func newGoFunction(scope constructs.Construct, codeDir string, props *awslambda.FunctionProps) awslambda.Function {
	props.Runtime = awslambda.Runtime_PROVIDED_AL2023()
	props.Architecture = awslambda.Architecture_ARM_64()
	props.Handler = jsii.String("bootstrap")
	props.Code = awslambda.Code_FromAsset(jsii.String(codeDir), nil)
	props.LoggingFormat = awslambda.LoggingFormat_JSON
	return awslambda.NewFunction(scope, jsii.String("Function"), props)
}

// writeOwnLogs lets a function write to its own log group. The log group's
// Arn attribute ends in ":*", which is how IAM names the streams of exactly
// this group.
func writeOwnLogs(logs awslogs.ILogGroup) awsiam.PolicyStatement {
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("WriteOwnLogs"),
		Actions:   jsii.Strings(LogActions...),
		Resources: &[]*string{logs.LogGroupArn()},
	})
}

// LogActions is what a function does to its own log group.
var LogActions = []string{"logs:CreateLogStream", "logs:PutLogEvents"}
