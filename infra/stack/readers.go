package stack

import (
	"encoding/json"
	"regexp"
	"sort"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/events"
	"github.com/stsrotator/stsrotator/shared/quotas"
)

var (
	reAccount = regexp.MustCompile(`^\d{12}$`)
	reRoot    = regexp.MustCompile(`^arn:[a-z-]+:iam::(\d{12}):root$`)
	reARN     = regexp.MustCompile(`^arn:[a-z-]+:iam::(\d{12}):`)
)

// readers splits a target's validated readers into whole accounts (an
// account ID or its root ARN) and individual principal ARNs, because the
// two are matched by different condition keys.
func readers(t config.Target) (accounts, arns []string) {
	for _, r := range t.Readers {
		switch {
		case reAccount.MatchString(r):
			accounts = append(accounts, r)
		case reRoot.MatchString(r):
			accounts = append(accounts, reRoot.FindStringSubmatch(r)[1])
		default:
			arns = append(arns, r)
		}
	}
	return accounts, arns
}

// readerAccounts is every account any reader belongs to, sorted.
func readerAccounts(ts []config.Target) []string {
	set := map[string]bool{}
	for _, t := range ts {
		for _, r := range t.Readers {
			if reAccount.MatchString(r) {
				set[r] = true
			} else if m := reARN.FindStringSubmatch(r); m != nil {
				set[m[1]] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for a := range set {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// allowReadersThroughSecretsManager lets readers decrypt secret values, but
// only when Secrets Manager asks on their behalf: which secret a reader may
// read is decided by that secret's resource policy, so the key does not
// repeat the per-secret rules (which would not fit a key policy's 32 KB for
// thousands of targets). This is the same shape as AWS's own
// aws/secretsmanager key policy, extended to the readers' accounts.
func allowReadersThroughSecretsManager(key awskms.Key, ts []config.Target) {
	accounts := []*string{awscdk.Aws_ACCOUNT_ID()}
	for _, a := range readerAccounts(ts) {
		accounts = append(accounts, jsii.String(a))
	}
	key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("ReadersDecryptThroughSecretsManager"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
		Actions:    jsii.Strings("kms:Decrypt"),
		// In a key policy, "*" means this key.
		Resources: jsii.Strings("*"),
		Conditions: &map[string]any{
			"StringEquals": map[string]any{
				"kms:ViaService":    viaService("secretsmanager"),
				"kms:CallerAccount": &accounts,
			},
		},
	}), jsii.Bool(false))
}

// viaService is the kms:ViaService value of an AWS service in the stack's
// region and partition.
func viaService(service string) *string {
	return awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String(service + "."), awscdk.Aws_REGION(), jsii.String("."), awscdk.Aws_URL_SUFFIX()})
}

// ReportBusStatementID names the statement allowReadersToReport adds to
// the default bus's resource policy.
const ReportBusStatementID = "StsrotatorReadersReportExpiredToken"

// reportBusArn is the bus consumers report to: the default bus of the
// stack's account and Region, where the report rule listens.
func reportBusArn(scope constructs.Construct) *string {
	return awscdk.Stack_Of(scope).FormatArn(&awscdk.ArnComponents{Service: jsii.String("events"), Resource: jsii.String("event-bus"),
		ResourceName: jsii.String(events.DefaultBus), ArnFormat: awscdk.ArnFormat_SLASH_RESOURCE_NAME})
}

// allowReadersToReport lets every reader account put ExpiredToken
// reports, and nothing else, on the default bus: without it PutEvents
// from another account's consumer to this bus is refused
// (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-bus-perms.html).
// The conditions are EventBridge's own keys, as in AWS's example policy
// for one source and detail-type:
// https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-bus-example-policy-cross-account-custom-bus-source.html
// With StatementId, CloudFormation adds this one statement to the bus's
// policy and leaves any other statement there alone. The whole policy is
// limited to 10,240 characters
// (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html):
// about 250 reader accounts in this statement.
func allowReadersToReport(st awscdk.Stack, ts []config.Target) awscdk.CfnResource {
	accounts := readerAccounts(ts)
	if len(accounts) == 0 {
		return nil
	}
	if err := quotas.EventBusPolicy.Check("the default bus's policy statement "+ReportBusStatementID, ReportBusPolicySize(accounts)); err != nil {
		// CloudFormation would roll back minutes into the deploy; synth
		// fails now with the row's fix instead.
		awscdk.Annotations_Of(st).AddError(jsii.String(err.Error()))
	}
	principals := make([]*string, len(accounts))
	for i, a := range accounts {
		principals[i] = awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String("arn:"), awscdk.Aws_PARTITION(), jsii.String(":iam::" + a + ":root")})
	}
	// A plain CfnResource: awsevents.CfnEventBusPolicy prints a deprecation
	// warning on every synth (its legacy Principal property), and the L2
	// EventBusPolicy cannot render an AccountPrincipal in this CDK version.
	return awscdk.NewCfnResource(st, jsii.String("ReadersReportExpiredToken"), &awscdk.CfnResourceProps{
		Type: jsii.String("AWS::Events::EventBusPolicy"),
		Properties: &map[string]any{
			"EventBusName": events.DefaultBus,
			"StatementId":  ReportBusStatementID,
			// No Sid: CloudFormation names the statement StatementId, as
			// in the resource's documented example.
			"Statement": map[string]any{
				"Effect":    "Allow",
				"Principal": map[string]any{"AWS": principals},
				"Action":    "events:PutEvents",
				"Resource":  reportBusArn(st),
				"Condition": map[string]any{
					// PutEvents carries a list of entries: every one must
					// be an stsrotator report.
					"ForAllValues:StringEquals": map[string]any{"events:source": []string{events.Source}},
					"StringEquals":              map[string]any{"events:detail-type": events.DetailTypeExpiredToken},
				},
			},
		},
	})
}

// ReportBusPolicySize is how many characters the bus policy takes with
// allowReadersToReport's statement for accounts as its only statement,
// rendered in the longest partition and Region names, so a config that
// fits here fits everywhere.
func ReportBusPolicySize(accounts []string) int {
	principals := make([]string, len(accounts))
	for i, a := range accounts {
		principals[i] = "arn:aws-iso-b:iam::" + a + ":root"
	}
	b, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
		"Sid":       ReportBusStatementID,
		"Effect":    "Allow",
		"Principal": map[string]any{"AWS": principals},
		"Action":    "events:PutEvents",
		"Resource":  "arn:aws-iso-b:events:ap-southeast-5:123456789012:event-bus/default",
		"Condition": map[string]any{
			"ForAllValues:StringEquals": map[string]any{"events:source": []string{events.Source}},
			"StringEquals":              map[string]any{"events:detail-type": events.DetailTypeExpiredToken},
		},
	}}})
	return len(b)
}
