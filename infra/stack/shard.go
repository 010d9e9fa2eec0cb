package stack

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/stsrotator/stsrotator/infra/plan"
	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/expiredcreds"
	"github.com/stsrotator/stsrotator/shared/reaction"
	"github.com/stsrotator/stsrotator/shared/rotation"
)

// MaxPatternChars keeps each CloudTrail rule's event pattern well under
// EventBridge's limit on pattern size, however long the role ARNs are.
const MaxPatternChars = 2048

// ExpiredTokenErrorCodes are the errorCode values CloudTrail records when a
// call is refused because its session credentials have expired: the
// classifier's code table (ExpiredToken, ExpiredTokenException,
// RequestExpired), so the rules and the reactor agree on every code.
var ExpiredTokenErrorCodes = expiredcreds.Codes()

// Shard is one nested stack: its targets' secrets and rotator lanes.
type Shard struct {
	Stack awscdk.NestedStack
	Plan  plan.Shard
	// Secrets by target name.
	Secrets         map[string]awssecretsmanager.CfnSecret
	Rotators        []*Rotator
	CloudTrailRules []awsevents.Rule
}

func newShard(s *Service, sp plan.Shard, codeDir string, keys map[string]string) *Shard {
	ns := awscdk.NewNestedStack(s.Stack, jsii.String(sp.ID), &awscdk.NestedStackProps{
		Description: jsii.String(fmt.Sprintf("stsrotator shard %d of %d: %d targets", sp.Index, plan.Shards, len(sp.Targets))),
	})
	sh := &Shard{Stack: ns, Plan: sp, Secrets: map[string]awssecretsmanager.CfnSecret{}}
	for _, t := range sp.Targets {
		sh.Secrets[t.Name] = newSecret(s, ns, t, keys[t.Name])
	}
	for _, lp := range sp.Lanes {
		sh.Rotators = append(sh.Rotators, newRotator(s, sh, lp, codeDir))
	}
	for _, t := range sp.Targets {
		r := sh.rotatorOf(t.Name)
		k := keys[t.Name]
		restrictReads(ns, sh.Secrets[t.Name], t, k, r.Role, s.ReactorRole)
		awscdk.NewCfnOutput(ns, jsii.String("SecretArn"+k), &awscdk.CfnOutputProps{
			Value: sh.Secrets[t.Name].Ref(), Description: jsii.String("Secret holding the credentials of target " + t.Name),
		})
		awscdk.NewCfnOutput(ns, jsii.String("AwsConfig"+k), &awscdk.CfnOutputProps{
			Value: ProfileLine(sh.Secrets[t.Name].Ref()), Description: jsii.String("Line for a ~/.aws/config profile that uses target " + t.Name),
		})
	}
	sh.cloudTrailRules()
	return sh
}

func (sh *Shard) rotatorOf(target string) *Rotator {
	for _, r := range sh.Rotators {
		for _, t := range r.Plan.Targets {
			if t.Name == target {
				return r
			}
		}
	}
	panic("stack: target " + target + " has no lane; plan.New places every target")
}

// newSecret creates the target's secret empty: the rotator's first write is
// its first version, so no placeholder value ever looks like credentials.
// Construct IDs use the output key, not the name: CloudFormation logical
// IDs drop hyphens, so a-b and ab would otherwise collide.
func newSecret(s *Service, ns awscdk.NestedStack, t config.Target, key string) awssecretsmanager.CfnSecret {
	// The same two tags the rotator puts on a secret it creates itself, so
	// `stsrotator status` finds stack-created secrets by them too.
	tags := []*awscdk.CfnTag{
		{Key: jsii.String(rotation.TagManagedBy), Value: jsii.String(rotation.ManagedBy)},
		{Key: jsii.String(rotation.TagTarget), Value: jsii.String(t.Name)},
	}
	for _, tg := range t.Tags {
		tags = append(tags, &awscdk.CfnTag{Key: jsii.String(tg.Key), Value: jsii.String(tg.Value)})
	}
	props := &awssecretsmanager.CfnSecretProps{
		Name:        jsii.String(t.SecretName),
		Description: jsii.String(fmt.Sprintf("stsrotator: credential_process JSON for %s, rotated before it expires", t.RoleArn)),
		KmsKeyId:    s.Key.KeyArn(),
		Tags:        &tags,
	}
	if len(t.ReplicaRegions) > 0 {
		// Secrets Manager copies every new version (and the resource
		// policy) to each region, encrypted there with that region's key.
		var rs []any
		for _, r := range t.ReplicaRegions {
			rs = append(rs, &awssecretsmanager.CfnSecret_ReplicaRegionProperty{Region: jsii.String(r), KmsKeyId: jsii.String(ReplicaKey(s.config, s.stackName, r))})
		}
		props.ReplicaRegions = &rs
	}
	sec := awssecretsmanager.NewCfnSecret(ns, jsii.String("Secret"+key), props)

	reason := "Secrets Manager native rotation cannot run more often than every 4 hours, but these credentials come from AssumeRole " +
		"called by a Lambda (role chaining), which caps a session at 1 hour; the stsrotator schedule rotates them instead."
	if t.SourceCredentials == config.SourceIAMUser {
		reason = "Secrets Manager native rotation runs on a fixed schedule (at most every 4 hours) and knows nothing of STS expiry; these credentials " +
			"(sessions up to 12 hours, AssumeRole signed by the stack's source user) are replaced by the stsrotator schedule with a third of their life left."
	}
	cdknag.NagSuppressions_AddResourceSuppressions(sec, &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String("AwsSolutions-SMG4"),
		Reason: jsii.String(reason),
	}}, jsii.Bool(false))
	return sec
}

// restrictReads is the secret's resource policy: the declared readers may
// read it, nobody else may (not even principals of this account whose own
// IAM policies would allow it) but the rotator and the reactor, which
// compares reported keys with the current and previous versions, and
// nobody may read it without TLS.
func restrictReads(ns awscdk.NestedStack, sec awssecretsmanager.CfnSecret, t config.Target, key string, rotator, reactor awsiam.IRole) {
	accounts, arns := readers(t)
	// In a secret's resource policy "*" is the only valid Resource: it
	// means the secret the policy is attached to.
	thisSecret := jsii.Strings("*")
	var stmts []awsiam.PolicyStatement
	if len(t.Readers) > 0 {
		var ps []awsiam.IPrincipal
		for _, a := range accounts {
			ps = append(ps, awsiam.NewAccountPrincipal(jsii.String(a)))
		}
		for _, a := range arns {
			ps = append(ps, awsiam.NewArnPrincipal(jsii.String(a)))
		}
		stmts = append(stmts, awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("DeclaredReadersRead"),
			Principals: &ps,
			Actions:    jsii.Strings("secretsmanager:GetSecretValue"),
			Resources:  thisSecret,
		}))
	}
	allowed := []*string{rotator.RoleArn(), reactor.RoleArn()}
	for _, a := range arns {
		allowed = append(allowed, jsii.String(a))
	}
	notIn := map[string]any{"aws:PrincipalArn": &allowed}
	if len(accounts) > 0 {
		sort.Strings(accounts)
		// Conditions under one operator are ANDed: a read is denied only
		// when the caller is neither a listed principal nor in a listed
		// account.
		notIn["aws:PrincipalAccount"] = jsii.Strings(accounts...)
	}
	stmts = append(stmts,
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("OnlyReadersAndStsrotatorRead"),
			Effect:     awsiam.Effect_DENY,
			Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
			Actions:    jsii.Strings("secretsmanager:GetSecretValue"),
			Resources:  thisSecret,
			Conditions: &map[string]any{"StringNotEquals": notIn},
		}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String("DenyReadsWithoutTLS"),
			Effect:     awsiam.Effect_DENY,
			Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
			Actions:    jsii.Strings("secretsmanager:GetSecretValue"),
			Resources:  thisSecret,
			Conditions: &map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
		}),
	)
	awssecretsmanager.NewCfnResourcePolicy(ns, jsii.String("ReadPolicy"+key), &awssecretsmanager.CfnResourcePolicyProps{
		SecretId:          sec.Ref(),
		ResourcePolicy:    awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{Statements: &stmts}),
		BlockPublicPolicy: jsii.Bool(true),
	})
}

// cloudTrailRules match API calls refused with an expired token whose
// session was issued for one of this shard's target roles, split so each
// pattern stays under MaxPatternChars.
func (sh *Shard) cloudTrailRules() {
	var chunk []string
	size := 0
	seen := map[string]bool{}
	flush := func() {
		if len(chunk) == 0 {
			return
		}
		id := fmt.Sprintf("CloudTrailExpiredToken%d", len(sh.CloudTrailRules))
		sh.CloudTrailRules = append(sh.CloudTrailRules, awsevents.NewRule(sh.Stack, jsii.String(id), &awsevents.RuleProps{
			Description: jsii.String("AWS API calls refused with an expired token, made with a session of a target role of this shard"),
			EventPattern: &awsevents.EventPattern{
				// Only aws.* sources: anyone allowed to PutEvents on the default
				// bus could otherwise send CloudTrail's detail-type with a target
				// role's ARN and force rotations. PutEvents refuses aws.* sources
				// to everyone but AWS services, so the prefix makes the rule
				// unspoofable without naming (and one day missing) the services
				// CloudTrail reports for.
				Source:     awsevents.Match_Prefix(jsii.String(reaction.CloudTrailSourcePrefix)),
				DetailType: jsii.Strings(reaction.DetailTypeCloudTrail),
				Detail: &map[string]any{
					"errorCode": ExpiredTokenErrorCodes,
					"userIdentity": map[string]any{
						"sessionContext": map[string]any{"sessionIssuer": map[string]any{"arn": chunk}},
					},
				},
			},
		}))
		chunk, size = nil, 0
	}
	for _, t := range sh.Plan.Targets {
		if seen[t.RoleArn] {
			continue
		}
		seen[t.RoleArn] = true
		b, _ := json.Marshal(t.RoleArn)
		if size+len(b)+1 > MaxPatternChars-256 {
			flush()
		}
		chunk = append(chunk, t.RoleArn)
		size += len(b) + 1
	}
	flush()
}
