package stack

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/stsrotator/stsrotator/shared/config"
)

// Replicas in other regions are encrypted there by a key in that region.
// A stack lives in one region, so it cannot create that key itself; the
// app adds one small ReplicaKeys stack per replica region (unless the
// config names a key there, replicaKmsKeys) and the service stack depends
// on them, so `cdk deploy` creates the keys first. The service stack
// names each key by its alias, ReplicaKeyAlias, which is the same in every
// region: no value has to cross regions (CloudFormation exports cannot),
// and ReplicaRegion.KmsKeyId takes an alias
// (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-secretsmanager-secret-replicaregion.html).
//
// A regional key rather than a replica of a multi-region key: Secrets
// Manager decrypts in the primary region and re-encrypts in the replica's,
// so the two keys never need the same material; an AWS::KMS::ReplicaKey
// would need the primary key's ARN in another region's template, i.e. a
// cross-region reference. Readers in other accounts keep working because
// each replica key's policy carries the same ReadersDecryptThroughSecretsManager
// statement as the service key.

// ReplicaKeyAlias is the alias of the stack-made replica key in every
// replica region.
func ReplicaKeyAlias(stackName string) string {
	return "alias/" + stackName + "/replicas"
}

// ReplicaKey is what encrypts replicas in region: the key the config
// names, else the stack-made key's alias.
func ReplicaKey(cfg *config.Config, stackName, region string) string {
	if k, ok := cfg.ReplicaKMSKeys[region]; ok {
		return k
	}
	return ReplicaKeyAlias(stackName)
}

// ReplicaRuleID is the logical ID of the template rule that refuses to
// deploy the stack into one of its replica regions.
const ReplicaRuleID = "ReplicasOutsideTheStacksRegion"

// replicasOutsideTheStacksRegion makes the template itself refuse a
// region that is one of its replicas': Secrets Manager replicates only to
// other Regions
// (https://docs.aws.amazon.com/secretsmanager/latest/userguide/replicate-secrets.html).
// The config check (config.ParseIn) catches this at synth whenever the
// region is known — `cdk deploy` always passes it as CDK_DEFAULT_REGION —
// but the stack is region-agnostic, and a template synthesized without a
// region and deployed by other means must fail before it creates anything.
// Rules are evaluated before CloudFormation creates or updates any
// resource (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/intrinsic-function-reference-rules.html).
func replicasOutsideTheStacksRegion(st awscdk.Stack, cfg *config.Config) {
	rs := cfg.ReplicaRegions()
	if len(rs) == 0 {
		return
	}
	var asserts []*awscdk.CfnRuleAssertion
	for _, r := range rs {
		asserts = append(asserts, &awscdk.CfnRuleAssertion{
			Assert:            awscdk.Fn_ConditionNot(awscdk.Fn_ConditionEquals(awscdk.Aws_REGION(), jsii.String(r))),
			AssertDescription: jsii.String("stsrotator: " + r + " is in replicaRegions, so the stack cannot be deployed there (Secrets Manager replicates a secret only to other Regions); deploy it to another region or remove " + r + " from replicaRegions"),
		})
	}
	awscdk.NewCfnRule(st, jsii.String(ReplicaRuleID), &awscdk.CfnRuleProps{Assertions: &asserts})
}

// ReplicaKeysStackName is the CloudFormation name of the replica-key stack
// in region.
func ReplicaKeysStackName(stackName, region string) string {
	return stackName + "-replica-keys-" + region
}

// NewReplicaKeys defines the stack, in region, holding the key that
// encrypts the replicas there. Add it for every region of
// cfg.ReplicaRegions() that replicaKmsKeys does not name.
func NewReplicaKeys(scope constructs.Construct, id, stackName, region string, cfg *config.Config) awscdk.Stack {
	st := awscdk.NewStack(scope, jsii.String(id), &awscdk.StackProps{
		StackName:   jsii.String(ReplicaKeysStackName(stackName, region)),
		Description: jsii.String(fmt.Sprintf("stsrotator %s: the KMS key that encrypts replicas of its secrets in %s", stackName, region)),
		Env:         &awscdk.Environment{Region: jsii.String(region)},
	})
	key := awskms.NewKey(st, jsii.String("Key"), &awskms.KeyProps{
		Description:       jsii.String(fmt.Sprintf("stsrotator %s: encrypts replicas of the credential secrets in %s", stackName, region)),
		Alias:             jsii.String(ReplicaKeyAlias(stackName)),
		EnableKeyRotation: jsii.Bool(true),
		// Deleting the key would make every replica unreadable.
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	var ts []config.Target
	for _, t := range cfg.Targets {
		if contains(t.ReplicaRegions, region) {
			ts = append(ts, t)
		}
	}
	allowReadersThroughSecretsManager(key, ts)
	awscdk.NewCfnOutput(st, jsii.String("ReplicaKeyArn"), &awscdk.CfnOutputProps{
		Value: key.KeyArn(), Description: jsii.String("KMS key of the replicas in " + region + " (alias " + ReplicaKeyAlias(stackName) + ")"),
	})
	return st
}

// replicaKeyStatements let a rotator's writes be replicated: Secrets
// Manager encrypts each replica with the replica region's key on behalf of
// the caller of PutSecretValue, which therefore needs kms:GenerateDataKey
// and kms:Encrypt on it
// (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_ReplicateSecretToRegions.html).
// A stack-made key's ARN is not known in this region, so it is matched by
// its alias.
func replicaKeyStatements(s *Service, ts []config.Target) []awsiam.PolicyStatement {
	regions := map[string]bool{}
	var order []string
	for _, t := range ts {
		for _, r := range t.ReplicaRegions {
			if !regions[r] {
				regions[r] = true
				order = append(order, r)
			}
		}
	}
	var out []awsiam.PolicyStatement
	for _, r := range order {
		key := ReplicaKey(s.config, s.stackName, r)
		via := awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String("secretsmanager." + r + "."), awscdk.Aws_URL_SUFFIX()})
		cond := map[string]any{"StringEquals": map[string]any{"kms:ViaService": via}}
		resource := jsii.String(key)
		if !strings.HasPrefix(key, "arn:") && !strings.HasPrefix(key, "alias/") {
			// A bare key ID (replicaKmsKeys allows it, as KmsKeyId does)
			// names a key of this account in the replica's region.
			resource = awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String("arn:"), awscdk.Aws_PARTITION(), jsii.String(":kms:" + r + ":"), awscdk.Aws_ACCOUNT_ID(), jsii.String(":key/" + key)})
		} else if alias, ok := strings.CutPrefix(key, "alias/"); ok || strings.Contains(key, ":alias/") {
			if !ok {
				alias = key[strings.Index(key, ":alias/")+len(":alias/"):]
			}
			resource = awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String("arn:"), awscdk.Aws_PARTITION(), jsii.String(":kms:" + r + ":"), awscdk.Aws_ACCOUNT_ID(), jsii.String(":key/*")})
			cond["ForAnyValue:StringEquals"] = map[string]any{"kms:ResourceAliases": "alias/" + alias}
		}
		out = append(out, awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("EncryptReplicasIn" + camelRegion(r)),
			Actions:    jsii.Strings("kms:GenerateDataKey", "kms:Encrypt"),
			Resources:  &[]*string{resource},
			Conditions: &cond,
		}))
	}
	return out
}

func camelRegion(r string) string {
	var b strings.Builder
	for _, p := range strings.Split(r, "-") {
		if p != "" {
			b.WriteString(strings.ToUpper(p[:1]) + p[1:])
		}
	}
	return b.String()
}

// suppressReplicaKeyWildcards explains the key/* resources of
// replicaKeyStatements to cdk-nag.
func suppressReplicaKeyWildcards(policyOwner constructs.IConstruct, ts []config.Target) {
	var applies []any
	seen := map[string]bool{}
	for _, t := range ts {
		for _, r := range t.ReplicaRegions {
			if !seen[r] {
				seen[r] = true
				applies = append(applies, "Resource::arn:<AWS::Partition>:kms:"+r+":<AWS::AccountId>:key/*")
			}
		}
	}
	if len(applies) == 0 {
		return
	}
	cdknag.NagSuppressions_AddResourceSuppressions(policyOwner, &[]*cdknag.NagPackSuppression{{
		AppliesTo: &applies,
		Id:        jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("Replica keys live in other regions and are created by the per-region ReplicaKeys stacks, so their ARNs are unknown here; " +
			"key/* in the replica's region is narrowed to the one key by its alias (kms:ResourceAliases) and to Secrets Manager's own use (kms:ViaService)."),
	}}, jsii.Bool(true))
}

// AddReplicaKeys adds, beside the service stack in scope (the app), one
// ReplicaKeys stack per replica region the config names no key for, and
// makes the service stack depend on each so they deploy first.
func (s *Service) AddReplicaKeys(scope constructs.Construct) []awscdk.Stack {
	var out []awscdk.Stack
	for _, r := range s.config.ReplicaRegions() {
		if _, named := s.config.ReplicaKMSKeys[r]; named {
			continue
		}
		st := NewReplicaKeys(scope, "StsrotatorReplicaKeys"+camelRegion(r), s.stackName, r, s.config)
		s.Stack.AddStackDependency(st, jsii.String("the replicas in "+r+" are encrypted with this stack's key"))
		out = append(out, st)
	}
	return out
}
