package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"
)

// alarmSource is the confused-deputy condition for CloudWatch alarms
// acting on the stack's resources (publishing to its topic, using its key
// for that): any alarm of this account and Region, as AWS's examples scope
// them (https://docs.aws.amazon.com/sns/latest/dg/sns-access-policy-use-cases.html,
// https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services).
func alarmSource(st awscdk.Stack) *map[string]any {
	return &map[string]any{
		"StringEquals": map[string]any{"aws:SourceAccount": awscdk.Aws_ACCOUNT_ID()},
		"ArnLike": map[string]any{"aws:SourceArn": st.FormatArn(&awscdk.ArnComponents{Service: jsii.String("cloudwatch"), Resource: jsii.String("alarm"),
			ResourceName: jsii.String("*"), ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME})},
	}
}

// schedulerPrincipal is EventBridge Scheduler as the trusted principal of
// a schedule's execution role, with the confused-deputy conditions AWS's
// execution-role page gives: aws:SourceAccount, and aws:SourceArn of the
// schedule group (this stack's schedules are in the account's default
// group; the schedule's own ARN under it is matched too)
// (https://docs.aws.amazon.com/scheduler/latest/UserGuide/setting-up.html#setting-up-execution-role,
// https://docs.aws.amazon.com/scheduler/latest/UserGuide/cross-service-confused-deputy-prevention.html).
func schedulerPrincipal(st awscdk.Stack) awsiam.ServicePrincipal {
	group := func(name string) *string {
		return st.FormatArn(&awscdk.ArnComponents{Service: jsii.String("scheduler"), Resource: jsii.String(name),
			ResourceName: jsii.String(ScheduleGroup), ArnFormat: awscdk.ArnFormat_SLASH_RESOURCE_NAME})
	}
	schedules := awscdk.Fn_Join(jsii.String(""), &[]*string{group("schedule"), jsii.String("/*")})
	return awsiam.NewServicePrincipal(jsii.String("scheduler.amazonaws.com"), &awsiam.ServicePrincipalOpts{
		Conditions: &map[string]any{
			"StringEquals": map[string]any{"aws:SourceAccount": awscdk.Aws_ACCOUNT_ID()},
			"ArnLike":      map[string]any{"aws:SourceArn": []*string{group("schedule-group"), schedules}},
		},
	})
}

// ScheduleGroup is the schedule group of every stsrotator schedule: the
// account's default group (the schedules name none).
const ScheduleGroup = "default"
