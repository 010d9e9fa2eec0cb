package stack

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/cloudformationinclude"
	"github.com/aws/jsii-runtime-go"

	"github.com/stsrotator/stsrotator/infra/plan"
	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/expiredcreds"
	"github.com/stsrotator/stsrotator/shared/metrics"
	"github.com/stsrotator/stsrotator/shared/rotation"
)

// MaxPatternChars is EventBridge's limit on an event pattern's size
// (quotas.EventPattern); the stack's patterns are fixed and checked
// against it.
const MaxPatternChars = 2048

// ExpiredTokenErrorCodes are the errorCode values CloudTrail records when a
// call is refused because its session credentials have expired.
var ExpiredTokenErrorCodes = expiredcreds.Codes()

// Parameters of a shard's per-target template, filled in by the root.
const (
	ParamKeyArn   = "KeyArn"
	ParamTopicArn = "AlertTopicArn"
)

// Shard is one nested stack: its targets' secrets and rotator lanes.
type Shard struct {
	Stack awscdk.NestedStack
	Plan  plan.Shard
	// Targets holds the per-target resources and outputs (TargetTemplate),
	// included as plain CloudFormation: thousands of targets as CDK
	// constructs would make synth scale with jsii round trips.
	Targets  cloudformationinclude.CfnInclude
	Rotators []*Rotator
	// Role is the shard's rotator role (plan.RotatorRoleName), which every
	// lane of the shard runs as; target roles trust its exact ARN.
	Role awsiam.Role
	// rotate is Role's inline policy: each lane's fixed statements (its
	// logs, events, the key); the per-target grants are each lane's
	// managed policies.
	rotate awsiam.PolicyDocument
	// readsSourceKey is set once a lane has added ReadTheSourceKey.
	readsSourceKey bool

	keys map[string]string
}

// Secret is a target's secret, for references from other stacks.
func (sh *Shard) Secret(target string) awscdk.CfnResource {
	return sh.Targets.GetResource(jsii.String("Secret" + sh.keys[target]))
}

func newShard(s *Service, sp plan.Shard, codeDir, workDir string, keys map[string]string) (*Shard, error) {
	ns := awscdk.NewNestedStack(s.Stack, jsii.String(sp.ID), &awscdk.NestedStackProps{
		Description: jsii.String(fmt.Sprintf("stsrotator shard %d of %d: %d targets", sp.Index, plan.Shards, len(sp.Targets))),
	})
	sh := &Shard{Stack: ns, Plan: sp, keys: keys}
	file := filepath.Join(workDir, sp.ID+".targets.json")
	b, err := json.Marshal(TargetTemplate(s.config, s.stackName, s.qualifier, sp, keys, s.sweep))
	if err == nil {
		err = os.WriteFile(file, b, 0o644)
	}
	if err != nil {
		return nil, fmt.Errorf("write the targets of %s: %w", sp.ID, err)
	}
	sh.Targets = cloudformationinclude.NewCfnInclude(ns, jsii.String("Targets"), &cloudformationinclude.CfnIncludeProps{
		TemplateFile: jsii.String(file),
		Parameters:   &map[string]any{ParamKeyArn: s.Key.KeyArn(), ParamTopicArn: s.Topic.TopicArn()},
	})
	sh.rotate = awsiam.NewPolicyDocument(nil)
	sh.Role = awsiam.NewRole(ns, jsii.String("RotatorRole"), &awsiam.RoleProps{
		// A literal name, no path: target roles trust this exact ARN, and
		// only a principal that may create or delete this one role could
		// ever hold it.
		RoleName:       jsii.String(plan.RotatorRoleName(s.stackName, sp.Index)),
		Description:    jsii.String(fmt.Sprintf("stsrotator %s: assumes the target roles of its %d targets and writes their secrets", sp.ID, len(sp.Targets))),
		AssumedBy:      awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		InlinePolicies: &map[string]awsiam.PolicyDocument{"Rotate": sh.rotate},
	})
	sh.rotate.AddStatements(onlyTheShardsFunctions(s.stackName, sp))
	for _, lp := range sp.Lanes {
		sh.Rotators = append(sh.Rotators, newRotator(s, sh, lp, codeDir))
	}
	return sh, nil
}

// RoleUseActions are what the rotator role's credentials may do only from
// inside the shard's own functions (onlyTheShardsFunctions): assume the
// target roles and touch secrets.
var RoleUseActions = []string{"sts:*", "secretsmanager:*"}

// onlyTheShardsFunctions denies the rotator role's credentials every
// RoleUseActions call that does not come from one of the shard's rotator
// functions. The role trusts lambda.amazonaws.com, so whoever may pass it
// (iam:PassRole) to a function of their own would otherwise run as the
// rotator: assume every target role of the shard and write its secrets,
// which the secrets' ArnNotEquals exemption cannot tell apart. Lambda puts
// lambda:SourceFunctionArn (the function's ARN) in the context of every
// call made from a function's execution environment, and the key works in
// identity policies only, not in resource policies
// (https://docs.aws.amazon.com/lambda/latest/dg/permissions-source-function-arn.html);
// it is absent from calls made with the role anywhere else, and an ARN
// operator's negation holds for an absent key, so those are denied too.
// The function names are literal (FunctionName), so the ARNs are known
// here. KMS is left out: Secrets Manager calls it on the rotator's behalf,
// and the role's key use is already limited to kms:ViaService.
func onlyTheShardsFunctions(stackName string, sp plan.Shard) awsiam.PolicyStatement {
	var names []string
	for _, lp := range sp.Lanes {
		names = append(names, FunctionName(stackName, sp.ID, lp.ID))
	}
	return onlyFromFunctions("OnlyTheShardsFunctionsUseThisRole", RoleUseActions, names)
}

// onlyFromFunctions denies actions to a Lambda execution role's
// credentials unless the call comes from one of the functions named
// (literal names, in the stack's account and Region): see
// onlyTheShardsFunctions.
func onlyFromFunctions(sid string, actions, names []string) awsiam.PolicyStatement {
	var arns []*string
	for _, n := range names {
		arns = append(arns, awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String("arn:"), awscdk.Aws_PARTITION(), jsii.String(":lambda:"), awscdk.Aws_REGION(),
			jsii.String(":"), awscdk.Aws_ACCOUNT_ID(), jsii.String(":function:" + n)}))
	}
	return awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String(sid),
		Effect:     awsiam.Effect_DENY,
		Actions:    jsii.Strings(actions...),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]any{"ArnNotEquals": map[string]any{"lambda:SourceFunctionArn": &arns}},
	})
}

// TargetTemplate is the CloudFormation template of a shard's per-target
// resources of config cfg: for each target its secret (retained when the
// target leaves the config; replicated to its replicaRegions) and the
// secret's resource policy, its SecretArn<Key> and
// AwsConfig<Key> outputs, and for each lane its validity alarms. The
// CloudFormation execution role of the CDK bootstrap with qualifier may
// still update the secrets and their policies (plan.ReadPolicy). It takes
// the key and the alert topic as the parameters ParamKeyArn and
// ParamTopicArn. Plain Go, so it costs microseconds per target and the
// quota guard can measure it without a synth.
func TargetTemplate(cfg *config.Config, stackName, qualifier string, sp plan.Shard, keys map[string]string, sweep time.Duration) map[string]any {
	res := map[string]any{}
	outs := map[string]any{}
	for _, t := range sp.Targets {
		k := keys[t.Name]
		res["Secret"+k] = secretResource(cfg, stackName, t)
		res["ReadPolicy"+k] = readPolicyResource(stackName, qualifier, t, k)
		outs["SecretArn"+k] = map[string]any{"Description": "Secret holding the credentials of target " + t.Name, "Value": ref("Secret" + k)}
		outs["AwsConfig"+k] = map[string]any{"Description": "Line for a ~/.aws/config profile that uses target " + t.Name, "Value": profileLineJSON(ref("Secret" + k))}
	}
	for _, l := range sp.Lanes {
		for id, a := range validityAlarms(stackName, sp, l, sweep) {
			res[id] = a
		}
	}
	return map[string]any{
		"Parameters": map[string]any{
			ParamKeyArn:   map[string]any{"Type": "String", "Description": "ARN of the stack's KMS key"},
			ParamTopicArn: map[string]any{"Type": "String", "Description": "ARN of the alert topic"},
		},
		"Resources": res,
		"Outputs":   outs,
	}
}

func ref(id string) map[string]any { return map[string]any{"Ref": id} }

// join is Fn::Join with no separator, the form CDK renders tokens in.
func join(parts ...any) map[string]any { return map[string]any{"Fn::Join": []any{"", parts}} }

// SecretSuppression is why cdk-nag's AwsSolutions-SMG4 (no native
// rotation) does not apply to target secrets.
const SecretSuppression = "Secrets Manager native rotation cannot run more often than every 4 hours, but these credentials come from AssumeRole " +
	"called by a Lambda (role chaining), which caps a session at 1 hour; the stsrotator schedule rotates them instead."

// IAMUserSecretSuppression is SecretSuppression for the secret of a
// sourceCredentials: iam-user target, whose sessions are not role chaining.
const IAMUserSecretSuppression = "Secrets Manager native rotation runs on a fixed schedule (at most every 4 hours) and knows nothing of STS expiry; these credentials " +
	"(sessions up to 12 hours, AssumeRole signed by the stack's source user) are replaced by the stsrotator schedule with a third of their life left."

// MetadataTarget names, on a per-target resource, the target it belongs
// to, so the quota guard can name the config entry to fix.
const MetadataTarget = "stsrotator:target"

// secretResource creates the target's secret empty: the rotator's first
// write is its first version, so no placeholder value ever looks like
// credentials. It is retained when the target leaves the config (or a
// replacement would delete it): a config mistake must not destroy the
// credentials consumers are reading; docs/infra.md says what to do with
// the orphan. Construct IDs use the output key, not the name:
// CloudFormation logical IDs drop hyphens, so a-b and ab would collide.
func secretResource(cfg *config.Config, stackName string, t config.Target) map[string]any {
	// The same two tags the rotator puts on a secret it creates itself, so
	// `stsrotator status` finds stack-created secrets by them too.
	tags := []any{
		map[string]any{"Key": rotation.TagManagedBy, "Value": rotation.ManagedBy},
		map[string]any{"Key": rotation.TagTarget, "Value": t.Name},
	}
	for _, tg := range t.Tags {
		tags = append(tags, map[string]any{"Key": tg.Key, "Value": tg.Value})
	}
	props := map[string]any{
		"Name":        t.SecretName,
		"Description": fmt.Sprintf("stsrotator: credential_process JSON for %s, rotated before it expires", t.RoleArn),
		"KmsKeyId":    ref(ParamKeyArn),
		"Tags":        tags,
	}
	if len(t.ReplicaRegions) > 0 {
		// Secrets Manager copies every new version (and the resource
		// policy) to each region, encrypted there with that region's key.
		var rs []any
		for _, r := range t.ReplicaRegions {
			rs = append(rs, map[string]any{"Region": r, "KmsKeyId": ReplicaKey(cfg, stackName, r)})
		}
		props["ReplicaRegions"] = rs
	}
	reason := SecretSuppression
	if t.SourceCredentials == config.SourceIAMUser {
		reason = IAMUserSecretSuppression
	}
	return map[string]any{
		"Type":                "AWS::SecretsManager::Secret",
		"DeletionPolicy":      "Retain",
		"UpdateReplacePolicy": "Retain",
		"Metadata": map[string]any{
			MetadataTarget: t.Name,
			"cdk_nag":      map[string]any{"rules_to_suppress": []any{map[string]any{"id": "AwsSolutions-SMG4", "reason": reason}}},
		},
		"Properties": props,
	}
}

// readPolicyResource attaches plan.ReadPolicy, whose size the plan has
// already checked against quotas.SecretResourcePolicy, to the secret.
func readPolicyResource(stackName, qualifier string, t config.Target, key string) map[string]any {
	return map[string]any{
		"Type": "AWS::SecretsManager::ResourcePolicy",
		// Kept with the retained secret, so an orphaned secret stays as
		// locked down as it was.
		"DeletionPolicy":      "Retain",
		"UpdateReplacePolicy": "Retain",
		"Metadata":            map[string]any{MetadataTarget: t.Name},
		"Properties": map[string]any{
			"SecretId":          ref("Secret" + key),
			"BlockPublicPolicy": true,
			"ResourcePolicy":    plan.ReadPolicy(stackName, qualifier, t),
		},
	}
}

// profileLineJSON is ProfileLine in template form.
func profileLineJSON(secretArn any) map[string]any {
	return join("credential_process = stsrotator credential-process --secret-id ", secretArn, " --region ", ref("AWS::Region"))
}

// validityAlarms notify the topic when any target's validity left falls
// below its threshold. Up to TargetsPerAlarm targets of a lane share one
// metric-math alarm; each term divides by that target's own threshold, so
// "< 1" means "some target is below its threshold". FILL turns a target
// that stopped reporting into a breach, not a silence.
func validityAlarms(stackName string, sp plan.Shard, l plan.Lane, sweep time.Duration) map[string]any {
	out := map[string]any{}
	period := int(AlarmPeriod(sweep).Seconds())
	for g := 0; g*TargetsPerAlarm < len(l.Targets); g++ {
		ts := l.Targets[g*TargetsPerAlarm : min((g+1)*TargetsPerAlarm, len(l.Targets))]
		terms := make([]string, len(ts))
		var why []string
		var ms []any
		for i, t := range ts {
			id := fmt.Sprintf("v%d", i)
			th := ValidityThreshold(t, sweep)
			terms[i] = fmt.Sprintf("FILL(%s,0)/%d", id, int(th.Seconds()))
			why = append(why, fmt.Sprintf("%s<%s", t.Name, th))
			ms = append(ms, map[string]any{"Id": id, "ReturnData": false, "MetricStat": map[string]any{
				"Metric": map[string]any{"Namespace": metrics.Namespace, "MetricName": metrics.ValiditySeconds,
					"Dimensions": []any{map[string]any{"Name": metrics.DimTarget, "Value": t.Name}}},
				"Period": period, "Stat": "Minimum",
			}})
		}
		ms = append([]any{map[string]any{"Id": "expr_1", "Label": "lowest validity left / threshold",
			"Expression": "MIN([" + strings.Join(terms, ",") + "])"}}, ms...)
		out[fmt.Sprintf("%sValidityLow%d", l.ID, g)] = map[string]any{
			"Type": "AWS::CloudWatch::Alarm",
			"Properties": map[string]any{
				"AlarmDescription": fmt.Sprintf("A target's credentials are close to expiring because rotation keeps failing (or it stopped reporting); check the logs of %s. Thresholds: %s",
					plan.FunctionName(stackName, sp.ID, l.ID), strings.Join(why, ", ")),
				"ComparisonOperator": "LessThanThreshold",
				"EvaluationPeriods":  1,
				"Threshold":          1,
				"TreatMissingData":   "breaching",
				"Metrics":            ms,
				"AlarmActions":       []any{ref(ParamTopicArn)},
			},
		}
	}
	return out
}
