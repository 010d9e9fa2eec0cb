package stack_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/stsrotator/stsrotator/infra/plan"
	"github.com/stsrotator/stsrotator/infra/stack"
	"github.com/stsrotator/stsrotator/internal/iameval"
	"github.com/stsrotator/stsrotator/shared/config"
)

// The values CloudFormation gives the synthesized policies' pseudo
// parameters in the account and Region the abuse tests deploy to.
var deployed = map[string]string{"AWS::Partition": "aws", "AWS::AccountId": "123456789012", "AWS::Region": "eu-west-1", "AWS::URLSuffix": "amazonaws.com"}

// resolvedPolicy is a synthesized policy document with its intrinsic
// functions resolved for deployed, parsed for the evaluator.
func resolvedPolicy(t *testing.T, doc any) *iameval.Policy {
	t.Helper()
	return resolvedPolicyWith(t, doc, deployed)
}

// resolvedPolicyWith is resolvedPolicy with its own deploy-time values.
func resolvedPolicyWith(t *testing.T, doc any, values map[string]string) *iameval.Policy {
	t.Helper()
	v, err := iameval.Resolve(doc, values)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v)
	p, err := iameval.Parse(b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	return p
}

// Proves (issue 18, "only the rotator writes"): the SYNTHESIZED resource
// policy of a target's secret, evaluated with AWS's documented logic
// (internal/iameval), lets only that target's rotator role and the CDK
// execution role write, re-stage, re-policy, delete, rotate, replicate or
// re-tag (stsrotator: keys) the secret, whatever the others' own IAM
// policies allow — an administrator's, a role created at the old rotator
// path, another shard's rotator, a declared reader's. Each row names the
// rule of https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
// it follows.
func TestAbuse_SecretWriteByNonRotator(t *testing.T) {
	fx := example(t)
	const target = "deploy-bot"
	sh := shardOf(fx, target)
	var secretPolicy *iameval.Policy
	for id, r := range resources(fx.shardJS[sh], "AWS::SecretsManager::ResourcePolicy") {
		if id == "ReadPolicy"+plan.OutputKeys(fx.plan.Config)[target] {
			secretPolicy = resolvedPolicy(t, props(r)["ResourcePolicy"])
		}
	}
	if secretPolicy == nil {
		t.Fatal("no resource policy for " + target)
	}
	// The rotator's own grants, as synthesized (its lanes' managed
	// policies), not a stand-in.
	var rotatorGrants []*iameval.Policy
	for _, m := range resources(fx.shardJS[sh], "AWS::IAM::ManagedPolicy") {
		rotatorGrants = append(rotatorGrants, resolvedPolicy(t, props(m)["PolicyDocument"]))
	}
	admin := []*iameval.Policy{iameval.MustParse(map[string]any{"Statement": map[string]any{"Effect": "Allow", "Action": "*", "Resource": "*"}})}
	const acct = "arn:aws:iam::123456789012:"
	rotator := acct + "role/" + plan.RotatorRoleName("stsrotator", plan.ShardOf(target))
	var otherShard string
	for _, s := range fx.plan.Shards {
		if s.ID != sh {
			otherShard = acct + "role/" + plan.RotatorRoleName("stsrotator", s.Index)
		}
	}
	principals := map[string]struct {
		arn      string
		identity []*iameval.Policy
	}{
		"rotator":              {rotator, rotatorGrants},
		"cfn-exec-role":        {acct + "role/cdk-hnb659fds-cfn-exec-role-123456789012-eu-west-1", admin},
		"admin":                {acct + "role/Admin", admin},
		"old-path-role":        {acct + "role/stsrotator/rotator/" + plan.RotatorRoleName("stsrotator", plan.ShardOf(target)), admin},
		"other-rotator":        {otherShard, admin},
		"reader":               {acct + "role/CiRunner", admin},
		"reactor":              {acct + "role/" + plan.ReactorRoleName("stsrotator"), nil},
		"reader-account-admin": {"arn:aws:iam::210987654321:role/Admin", admin},
		"service":              {"secretsmanager.amazonaws.com", nil},
	}
	const (
		evalDeny  = "an explicit Deny in any policy overrides any Allow"
		evalAllow = "same account: an Allow in the identity or the resource policy allows, when no Deny applies"
		evalNone  = "no policy allows it: implicit deny"
	)
	tls := map[string][]string{"aws:SecureTransport": {"true"}}
	withTags := func(keys ...string) map[string][]string {
		return map[string][]string{"aws:SecureTransport": {"true"}, "aws:TagKeys": keys}
	}
	cases := []struct {
		who, action string
		ctx         map[string][]string
		want        iameval.Decision
		rule        string
	}{
		{"rotator", "secretsmanager:GetSecretValue", tls, iameval.Allow, evalAllow + " (its OwnSecrets grant; exempt from the read deny by exact ARN)"},
		{"rotator", "secretsmanager:PutSecretValue", tls, iameval.Allow, evalAllow + " (exempt from OnlyTheRotatorWrites by exact ARN)"},
		{"rotator", "secretsmanager:TagResource", withTags("stsrotator:target"), iameval.Allow, evalAllow + " (tags its own secrets on create)"},
		{"rotator", "secretsmanager:UpdateSecretVersionStage", tls, iameval.ImplicitDeny, evalNone + " (least privilege: the rotator never re-stages)"},
		{"cfn-exec-role", "secretsmanager:UpdateSecret", tls, iameval.Allow, evalAllow + " (CloudFormation updates the stack's secrets)"},
		{"cfn-exec-role", "secretsmanager:PutResourcePolicy", tls, iameval.Allow, evalAllow + " (CloudFormation updates this policy)"},
		{"cfn-exec-role", "secretsmanager:DeleteResourcePolicy", tls, iameval.Allow, evalAllow},
		{"cfn-exec-role", "secretsmanager:GetSecretValue", tls, iameval.ExplicitDeny, evalDeny + " (the deployer never reads credentials)"},
		{"admin", "secretsmanager:PutSecretValue", tls, iameval.ExplicitDeny, evalDeny},
		{"admin", "secretsmanager:UpdateSecretVersionStage", tls, iameval.ExplicitDeny, evalDeny},
		{"admin", "secretsmanager:UpdateSecret", tls, iameval.ExplicitDeny, evalDeny},
		{"admin", "secretsmanager:PutResourcePolicy", tls, iameval.ExplicitDeny, evalDeny},
		{"admin", "secretsmanager:DeleteResourcePolicy", tls, iameval.ExplicitDeny, evalDeny},
		{"admin", "secretsmanager:RotateSecret", tls, iameval.ExplicitDeny, evalDeny},
		{"admin", "secretsmanager:CancelRotateSecret", tls, iameval.ExplicitDeny, evalDeny},
		{"admin", "secretsmanager:DeleteSecret", tls, iameval.ExplicitDeny, evalDeny},
		{"admin", "secretsmanager:RestoreSecret", tls, iameval.ExplicitDeny, evalDeny},
		{"admin", "secretsmanager:ReplicateSecretToRegions", tls, iameval.ExplicitDeny, evalDeny},
		{"admin", "secretsmanager:RemoveRegionsFromReplication", tls, iameval.ExplicitDeny, evalDeny},
		{"admin", "secretsmanager:StopReplicationToReplica", tls, iameval.ExplicitDeny, evalDeny},
		{"admin", "secretsmanager:TagResource", withTags("team", "stsrotator:target"), iameval.ExplicitDeny, evalDeny + " (ForAnyValue:StringLike aws:TagKeys stsrotator:*)"},
		{"admin", "secretsmanager:UntagResource", withTags("stsrotator:managed-by"), iameval.ExplicitDeny, evalDeny},
		{"admin", "secretsmanager:TagResource", withTags("team"), iameval.Allow, evalAllow + " (other tags stay their owners')"},
		{"admin", "secretsmanager:DescribeSecret", tls, iameval.Allow, evalAllow + " (reads of metadata are not writes)"},
		{"admin", "secretsmanager:ValidateResourcePolicy", tls, iameval.Allow, evalAllow + " (read-only)"},
		{"admin", "secretsmanager:GetSecretValue", tls, iameval.ExplicitDeny, evalDeny + " (OnlyReadersAndStsrotatorRead)"},
		{"old-path-role", "secretsmanager:PutSecretValue", tls, iameval.ExplicitDeny, evalDeny + " (ArnNotEquals: a path is part of the ARN)"},
		{"old-path-role", "secretsmanager:GetSecretValue", tls, iameval.ExplicitDeny, evalDeny},
		{"other-rotator", "secretsmanager:PutSecretValue", tls, iameval.ExplicitDeny, evalDeny + " (only this secret's rotator is exempt)"},
		{"reader", "secretsmanager:GetSecretValue", tls, iameval.Allow, evalAllow + " (DeclaredReadersRead)"},
		{"reader", "secretsmanager:GetSecretValue", map[string][]string{"aws:SecureTransport": {"false"}}, iameval.ExplicitDeny, evalDeny + " (DenyReadsWithoutTLS)"},
		{"reader", "secretsmanager:PutSecretValue", tls, iameval.ExplicitDeny, evalDeny},
		{"reader", "secretsmanager:UpdateSecretVersionStage", tls, iameval.ExplicitDeny, evalDeny},
		{"reactor", "secretsmanager:PutSecretValue", tls, iameval.ExplicitDeny, evalDeny},
		// Cross-account replication (2025): a reader that may read the
		// secret could link it to a replica in an account of its own and
		// receive every future value, after its reader access is gone.
		{"reader", "secretsmanager:AssociateCrossAccountReplica", tls, iameval.ExplicitDeny, evalDeny + " (NotAction: every action but reads)"},
		{"admin", "secretsmanager:AssociateCrossAccountReplica", tls, iameval.ExplicitDeny, evalDeny},
		{"admin", "secretsmanager:DisassociateCrossAccountReplica", tls, iameval.ExplicitDeny, evalDeny},
		{"admin", "secretsmanager:SomeActionAWSAddsLater", tls, iameval.ExplicitDeny, evalDeny + " (NotAction: not an enumerated list)"},
		{"admin", "secretsmanager:ListSecretVersionIds", tls, iameval.Allow, evalAllow + " (reads of metadata are not writes)"},
		{"admin", "secretsmanager:GetResourcePolicy", tls, iameval.Allow, evalAllow},
		// A declared reader account (210987654321 reads audit-s3, not this
		// secret) and a service principal (no aws:PrincipalArn).
		{"reader-account-admin", "secretsmanager:PutSecretValue", tls, iameval.ExplicitDeny, evalDeny},
		{"reader-account-admin", "secretsmanager:GetSecretValue", tls, iameval.ExplicitDeny, evalDeny + " (reads another target's secret)"},
		{"service", "secretsmanager:PutSecretValue", tls, iameval.ExplicitDeny, evalDeny + " (ArnNotEquals holds for an absent aws:PrincipalArn)"},
	}
	for _, a := range plan.SecretWriteActions {
		cases = append(cases, struct {
			who, action string
			ctx         map[string][]string
			want        iameval.Decision
			rule        string
		}{"admin", a, tls, iameval.ExplicitDeny, evalDeny + " (every write action)"}, struct {
			who, action string
			ctx         map[string][]string
			want        iameval.Decision
			rule        string
		}{"cfn-exec-role", a, tls, iameval.Allow, evalAllow + " (the deployer is exempt)"})
	}
	resource := "arn:aws:secretsmanager:eu-west-1:123456789012:secret:stsrotator/" + target + "-AbCdEf"
	for _, c := range cases {
		p := principals[c.who]
		got, err := iameval.Evaluate(iameval.Request{Principal: p.arn, Action: c.action, Resource: resource, Context: c.ctx}, p.identity, secretPolicy)
		if err != nil || got != c.want {
			t.Errorf("%s %s %v: %v %v, want %v (%s)", c.who, c.action, c.ctx["aws:TagKeys"], got, err, c.want, c.rule)
		}
	}
	if !strings.HasPrefix(otherShard, acct) {
		t.Fatal("the example has one shard: no other rotator to try")
	}
}

// Proves (issue 18): the source-key secret's write exemption is the
// execution role's exact ARN, no longer aws:CalledVia: a principal that
// may create any CloudFormation stack (its calls carry aws:CalledVia =
// cloudformation.amazonaws.com) can neither write nor re-policy the key,
// while the source-key rotator and the CDK execution role still can.
func TestAbuse_StackCreatorWritesTheSourceKey(t *testing.T) {
	fx := longSession(t)
	var roleID string
	for id, r := range resources(fx.rootJS, "AWS::IAM::Role") {
		if strings.Contains(js(props(r)["Path"]), "/source-key-rotator/") {
			roleID = id
		}
	}
	keyRotator := "arn:aws:iam::123456789012:role/stsrotator/source-key-rotator/" + roleID
	values := map[string]string{roleID + ".Arn": keyRotator}
	for k, v := range deployed {
		values[k] = v
	}
	var pol *iameval.Policy
	for _, rp := range resources(fx.rootJS, "AWS::SecretsManager::ResourcePolicy") {
		doc := props(rp)["ResourcePolicy"]
		if !strings.Contains(js(doc), "OnlyTheSourceKeyRotatorWrites") {
			continue
		}
		v, err := iameval.Resolve(doc, values)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(v)
		if pol, err = iameval.Parse(b); err != nil {
			t.Fatal(err)
		}
	}
	if pol == nil {
		t.Fatal("no source-key secret policy")
	}
	admin := []*iameval.Policy{iameval.MustParse(map[string]any{"Statement": map[string]any{"Effect": "Allow", "Action": "*", "Resource": "*"}})}
	viaCFN := map[string][]string{"aws:CalledVia": {"cloudformation.amazonaws.com"}, "aws:SecureTransport": {"true"}}
	resource := "arn:aws:secretsmanager:eu-west-1:123456789012:secret:KeySecret-AbCdEf"
	for _, c := range []struct {
		who, principal, action string
		want                   iameval.Decision
	}{
		{"a stack creator's CloudFormation call", "arn:aws:iam::123456789012:role/AnyStackDeployer", "secretsmanager:PutSecretValue", iameval.ExplicitDeny},
		{"a stack creator's CloudFormation call", "arn:aws:iam::123456789012:role/AnyStackDeployer", "secretsmanager:PutResourcePolicy", iameval.ExplicitDeny},
		{"a stack creator's CloudFormation call", "arn:aws:iam::123456789012:role/AnyStackDeployer", "secretsmanager:GetSecretValue", iameval.ExplicitDeny},
		{"the source-key rotator", keyRotator, "secretsmanager:PutSecretValue", iameval.Allow},
		{"the CDK execution role", "arn:aws:iam::123456789012:role/cdk-hnb659fds-cfn-exec-role-123456789012-eu-west-1", "secretsmanager:PutResourcePolicy", iameval.Allow},
	} {
		got, err := iameval.Evaluate(iameval.Request{Principal: c.principal, Action: c.action, Resource: resource, Context: viaCFN}, admin, pol)
		if err != nil || got != c.want {
			t.Errorf("%s %s: %v %v, want %v", c.who, c.action, got, err, c.want)
		}
	}
}

// rotatorIdentity is every identity policy of target's shard rotator role
// as synthesized: its inline policies and its lanes' managed policies.
func rotatorIdentity(t *testing.T, fx *fixture, target string) []*iameval.Policy {
	t.Helper()
	sh := shardOf(fx, target)
	var out []*iameval.Policy
	for _, r := range resources(fx.shardJS[sh], "AWS::IAM::Role") {
		if props(r)["RoleName"] != plan.RotatorRoleName("stsrotator", plan.ShardOf(target)) {
			continue
		}
		// The log groups' and the key's ARNs stand-ins: the statements
		// naming them are not under test.
		out = append(out, inlinePolicies(t, r, fakeValues(fx.shardJS[sh]))...)
	}
	if len(out) == 0 {
		t.Fatal("no inline policy on the rotator role of " + sh)
	}
	for _, m := range resources(fx.shardJS[sh], "AWS::IAM::ManagedPolicy") {
		out = append(out, resolvedPolicy(t, props(m)["PolicyDocument"]))
	}
	return out
}

// Proves: the rotator role trusts lambda.amazonaws.com, so anyone who may
// pass it (iam:PassRole, which AdministratorAccess includes) to a function
// of their own would run as the rotator: the secrets' write deny exempts
// the role's ARN, and the target roles trust it. The role's own inline
// policy denies its credentials every STS and Secrets Manager call that
// does not come from one of its shard's rotator functions, by
// lambda:SourceFunctionArn, which Lambda sets on every call from a
// function's execution environment
// (https://docs.aws.amazon.com/lambda/latest/dg/permissions-source-function-arn.html);
// the credentials used anywhere else carry no such key, and ArnNotEquals
// holds for an absent key
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html).
func TestAbuse_RotatorRolePassedToAnotherFunction(t *testing.T) {
	fx := example(t)
	const target = "deploy-bot"
	identity := rotatorIdentity(t, fx, target)
	fn, ok := fx.plan.FunctionFor("stsrotator", target)
	if !ok {
		t.Fatal("no function for " + target)
	}
	const lambdaArn = "arn:aws:lambda:eu-west-1:123456789012:function:"
	rotator := "arn:aws:iam::123456789012:role/" + plan.RotatorRoleName("stsrotator", plan.ShardOf(target))
	secret := "arn:aws:secretsmanager:eu-west-1:123456789012:secret:stsrotator/" + target + "-AbCdEf"
	targetRole := "arn:aws:iam::123456789012:role/DeployBot"
	from := func(arn string) map[string][]string {
		if arn == "" {
			return map[string][]string{"aws:SecureTransport": {"true"}}
		}
		return map[string][]string{"aws:SecureTransport": {"true"}, "lambda:SourceFunctionArn": {arn}}
	}
	for _, c := range []struct {
		who, action, resource string
		ctx                   map[string][]string
		want                  iameval.Decision
	}{
		{"its own function", "secretsmanager:PutSecretValue", secret, from(lambdaArn + fn), iameval.Allow},
		{"its own function", "sts:AssumeRole", targetRole, from(lambdaArn + fn), iameval.Allow},
		{"a function the attacker created with the role", "secretsmanager:PutSecretValue", secret, from(lambdaArn + "attacker"), iameval.ExplicitDeny},
		{"a function the attacker created with the role", "secretsmanager:GetSecretValue", secret, from(lambdaArn + "attacker"), iameval.ExplicitDeny},
		{"a function the attacker created with the role", "sts:AssumeRole", targetRole, from(lambdaArn + "attacker"), iameval.ExplicitDeny},
		{"a function with the same name in another Region", "sts:AssumeRole", targetRole, from("arn:aws:lambda:us-east-1:123456789012:function:" + fn), iameval.ExplicitDeny},
		{"the role's credentials outside any function", "sts:AssumeRole", targetRole, from(""), iameval.ExplicitDeny},
	} {
		got, err := iameval.Evaluate(iameval.Request{Principal: rotator, Action: c.action, Resource: c.resource, Context: c.ctx}, identity, nil)
		if err != nil || got != c.want {
			t.Errorf("%s: %s: %v %v, want %v", c.who, c.action, got, err, c.want)
		}
	}
}

// inlinePolicies are role's inline policies, resolved with values and
// parsed.
func inlinePolicies(t *testing.T, role map[string]any, values map[string]string) []*iameval.Policy {
	t.Helper()
	var out []*iameval.Policy
	inline, _ := props(role)["Policies"].([]any)
	for _, p := range inline {
		v, err := iameval.Resolve(p.(map[string]any)["PolicyDocument"], values)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(v)
		pol, err := iameval.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, pol)
	}
	return out
}

// fakeValues gives every resource and parameter of tpl a stand-in ARN
// (Ref and Fn::GetAtt .Arn alike), on top of deployed, for evaluating
// statements that merely name them.
func fakeValues(tpl map[string]any) map[string]string {
	values := map[string]string{}
	for k, v := range deployed {
		values[k] = v
	}
	for _, sect := range []string{"Resources", "Parameters"} {
		m, _ := tpl[sect].(map[string]any)
		for id := range m {
			values[id] = "arn:aws:fake:eu-west-1:123456789012:" + id
			values[id+".Arn"] = values[id]
		}
	}
	return values
}

// Proves: the source-key rotator role, passed to a function of the
// attacker's (iam:PassRole), can neither mint the source user's access
// keys nor write the key secret: its inline policy denies iam:* and
// secretsmanager:* unless lambda:SourceFunctionArn is its own function
// (https://docs.aws.amazon.com/lambda/latest/dg/permissions-source-function-arn.html).
// Without it, that function would get a long-lived key that assumes every
// iam-user target.
func TestAbuse_SourceKeyRolePassedToAnotherFunction(t *testing.T) {
	fx := longSession(t)
	values := fakeValues(fx.rootJS)
	var identity []*iameval.Policy
	var roleID string
	for id, r := range resources(fx.rootJS, "AWS::IAM::Role") {
		if !strings.Contains(js(props(r)["Path"]), "/source-key-rotator/") {
			continue
		}
		roleID = id
		identity = append(identity, inlinePolicies(t, r, values)...)
	}
	if len(identity) == 0 {
		t.Fatal("no source-key rotator role")
	}
	var userID, secretID string
	for id := range resources(fx.rootJS, "AWS::IAM::User") {
		userID = id
	}
	for id, r := range resources(fx.rootJS, "AWS::SecretsManager::Secret") {
		if strings.Contains(js(r), "source") || strings.Contains(id, "Key") {
			secretID = id
		}
	}
	const lambdaArn = "arn:aws:lambda:eu-west-1:123456789012:function:"
	principal := "arn:aws:iam::123456789012:role/stsrotator/source-key-rotator/" + roleID
	for _, c := range []struct {
		fn, action, resource string
		want                 iameval.Decision
	}{
		{stack.SourceKeyFunctionName("stsrotator"), "iam:CreateAccessKey", values[userID+".Arn"], iameval.Allow},
		{stack.SourceKeyFunctionName("stsrotator"), "secretsmanager:PutSecretValue", values[secretID], iameval.Allow},
		{"attacker", "iam:CreateAccessKey", values[userID+".Arn"], iameval.ExplicitDeny},
		{"attacker", "secretsmanager:PutSecretValue", values[secretID], iameval.ExplicitDeny},
		{"attacker", "secretsmanager:GetSecretValue", values[secretID], iameval.ExplicitDeny},
	} {
		ctx := map[string][]string{"lambda:SourceFunctionArn": {lambdaArn + c.fn}}
		got, err := iameval.Evaluate(iameval.Request{Principal: principal, Action: c.action, Resource: c.resource, Context: ctx}, identity, nil)
		if err != nil || got != c.want {
			t.Errorf("from function %s: %s on %s: %v %v, want %v", c.fn, c.action, c.resource, got, err, c.want)
		}
	}
}

// guardrailSCP is the SCP docs/security.md recommends for the stsrotator
// account: its first JSON block after "## Guardrails".
func guardrailSCP(t *testing.T) *iameval.Policy {
	t.Helper()
	b, err := os.ReadFile("../../docs/security.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "## Guardrails")
	if ok {
		_, rest, ok = strings.Cut(rest, "```json\n")
	}
	doc, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("docs/security.md: no JSON block under ## Guardrails")
	}
	p, err := iameval.Parse([]byte(doc))
	if err != nil {
		t.Fatalf("docs/security.md's SCP: %v", err)
	}
	return p
}

// Proves (docs/security.md, guardrails): an administrator of the
// stsrotator account cannot become a rotator by the Lambda side door —
// replacing a rotator function's code or configuration, deleting it and
// creating one of the same name (lambda:SourceFunctionArn would then
// match), or passing a stsrotator role to anything — nor edit the
// source-key rotator role, whose generated name sits under the
// /stsrotator/ path, while the CDK execution role still deploys. The
// template cannot stop a principal that may change a function's code: the
// SCP can. An SCP's Deny applies like any explicit Deny
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html);
// the SCP is given here as one more policy alongside the caller's own.
func TestAbuse_AdminTakesOverARotatorFunction(t *testing.T) {
	scp := guardrailSCP(t)
	// The SCP is written for account 111111111111 in us-east-1.
	const acct = "arn:aws:iam::111111111111:"
	admin := []*iameval.Policy{scp, iameval.MustParse(map[string]any{"Statement": map[string]any{"Effect": "Allow", "Action": "*", "Resource": "*"}})}
	fn := "arn:aws:lambda:us-east-1:111111111111:function:" + plan.FunctionName("stsrotator", plan.ShardID(12), "Rotator0")
	for _, c := range []struct {
		who, action, resource string
		want                  iameval.Decision
	}{
		{"Admin", "lambda:UpdateFunctionCode", fn, iameval.ExplicitDeny},
		{"Admin", "lambda:UpdateFunctionConfiguration", fn, iameval.ExplicitDeny},
		{"Admin", "lambda:DeleteFunction", fn, iameval.ExplicitDeny},
		{"Admin", "lambda:CreateFunction", fn, iameval.ExplicitDeny},
		{"Admin", "lambda:AddPermission", fn, iameval.ExplicitDeny},
		{"Admin", "lambda:UpdateFunctionCode", "arn:aws:lambda:us-east-1:111111111111:function:" + stack.SourceKeyFunctionName("stsrotator"), iameval.ExplicitDeny},
		{"Admin", "iam:PassRole", acct + "role/" + plan.RotatorRoleName("stsrotator", 12), iameval.ExplicitDeny},
		{"Admin", "iam:PassRole", acct + "role/stsrotator/source-key-rotator/StsrotatorSourceKeyRotatorRole1A2B3C", iameval.ExplicitDeny},
		{"Admin", "iam:UpdateAssumeRolePolicy", acct + "role/stsrotator/source-key-rotator/StsrotatorSourceKeyRotatorRole1A2B3C", iameval.ExplicitDeny},
		{"Admin", "iam:PutRolePolicy", acct + "role/stsrotator/source-key-rotator/StsrotatorSourceKeyRotatorRole1A2B3C", iameval.ExplicitDeny},
		{"Admin", "iam:UpdateAssumeRolePolicy", acct + "role/" + plan.RotatorRoleName("stsrotator", 12), iameval.ExplicitDeny},
		// The reactor reads every secret; passed to another function its
		// role would too (its own SourceFunctionArn deny is issue 19's).
		{"Admin", "iam:PassRole", acct + "role/" + plan.ReactorRoleName("stsrotator"), iameval.ExplicitDeny},
		{"Admin", "lambda:UpdateFunctionCode", "arn:aws:lambda:us-east-1:111111111111:function:their-own", iameval.Allow},
		{"cdk-hnb659fds-cfn-exec-role-111111111111-us-east-1", "lambda:UpdateFunctionCode", fn, iameval.Allow},
		{"cdk-hnb659fds-cfn-exec-role-111111111111-us-east-1", "iam:PassRole", acct + "role/" + plan.RotatorRoleName("stsrotator", 12), iameval.Allow},
	} {
		got, err := iameval.Evaluate(iameval.Request{Principal: acct + "role/" + c.who, Action: c.action, Resource: c.resource}, admin, nil)
		if err != nil || got != c.want {
			t.Errorf("%s %s %s: %v %v, want %v", c.who, c.action, c.resource, got, err, c.want)
		}
	}
}

// Proves (docs/security.md, the execution role's exemption): an
// administrator of the stsrotator account cannot deploy a CloudFormation
// stack of their own through the CDK execution role — which the secrets'
// write deny exempts, and which would then rewrite a secret's policy —
// neither by assuming the bootstrap's deploy role (it trusts the whole
// account) nor by passing the execution role to CloudFormation; the
// deployer and the deploy role still can. The guardrail SCP is evaluated
// as one more policy beside the caller's own.
func TestAbuse_AdminDeploysThroughTheExecutionRole(t *testing.T) {
	scp := guardrailSCP(t)
	const acct = "arn:aws:iam::111111111111:"
	admin := []*iameval.Policy{scp, iameval.MustParse(map[string]any{"Statement": map[string]any{"Effect": "Allow", "Action": "*", "Resource": "*"}})}
	exec := acct + "role/cdk-hnb659fds-cfn-exec-role-111111111111-us-east-1"
	deploy := acct + "role/cdk-hnb659fds-deploy-role-111111111111-us-east-1"
	for _, c := range []struct {
		who, action, resource string
		want                  iameval.Decision
	}{
		{acct + "role/Admin", "sts:AssumeRole", deploy, iameval.ExplicitDeny},
		{acct + "role/Admin", "sts:AssumeRole", exec, iameval.ExplicitDeny},
		{acct + "role/Admin", "iam:PassRole", exec, iameval.ExplicitDeny},
		{acct + "user/alice", "iam:PassRole", exec, iameval.ExplicitDeny},
		{acct + "role/BreakGlassDeployer", "sts:AssumeRole", deploy, iameval.Allow},
		{deploy, "iam:PassRole", exec, iameval.Allow},
		{acct + "role/Admin", "iam:PassRole", acct + "role/their-own-app", iameval.Allow},
	} {
		got, err := iameval.Evaluate(iameval.Request{Principal: c.who, Action: c.action, Resource: c.resource}, admin, nil)
		if err != nil || got != c.want {
			t.Errorf("%s %s %s: %v %v, want %v", c.who, c.action, c.resource, got, err, c.want)
		}
	}
}

// Proves: a role whose name differs from a rotator's only in case gains
// nothing. IAM refuses to create it while the rotator exists ("names must
// be unique within the account. They are not distinguished by case",
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html);
// created while the stack is not deployed, it only makes the deploy fail,
// and its ARN still differs: ARN condition operators compare
// case-sensitively
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_ARN),
// so neither the secret's exemption nor the target role's trust matches it.
func TestAbuse_CaseVariantRotatorRole(t *testing.T) {
	fx := example(t)
	const target = "deploy-bot"
	var secretPolicy *iameval.Policy
	for id, r := range resources(fx.shardJS[shardOf(fx, target)], "AWS::SecretsManager::ResourcePolicy") {
		if id == "ReadPolicy"+plan.OutputKeys(fx.plan.Config)[target] {
			secretPolicy = resolvedPolicy(t, props(r)["ResourcePolicy"])
		}
	}
	var tg config.Target
	for _, x := range fx.plan.Config.Targets {
		if x.Name == target {
			tg = x
		}
	}
	trust := iameval.MustParse(map[string]any{"Statement": plan.TrustStatement("aws", "123456789012", "stsrotator", tg)})
	admin := []*iameval.Policy{iameval.MustParse(map[string]any{"Statement": map[string]any{"Effect": "Allow", "Action": "*", "Resource": "*"}})}
	real := "arn:aws:iam::123456789012:role/" + plan.RotatorRoleName("stsrotator", plan.ShardOf(target))
	variant := "arn:aws:iam::123456789012:role/" + strings.ToUpper(plan.RotatorRoleName("stsrotator", plan.ShardOf(target)))
	secret := "arn:aws:secretsmanager:eu-west-1:123456789012:secret:stsrotator/" + target + "-AbCdEf"
	ext := map[string][]string{"sts:ExternalId": {tg.ExternalID}, "aws:SecureTransport": {"true"}}
	wrongExt := map[string][]string{"sts:ExternalId": {"guessed"}, "aws:SecureTransport": {"true"}}
	for _, c := range []struct {
		principal, action, resource string
		resourcePolicy              *iameval.Policy
		trust                       bool
		ctx                         map[string][]string
		want                        iameval.Decision
	}{
		{variant, "secretsmanager:PutSecretValue", secret, secretPolicy, false, ext, iameval.ExplicitDeny},
		{variant, "secretsmanager:GetSecretValue", secret, secretPolicy, false, ext, iameval.ExplicitDeny},
		{variant, "sts:AssumeRole", tg.RoleArn, trust, true, ext, iameval.ImplicitDeny},
		{real, "sts:AssumeRole", tg.RoleArn, trust, true, ext, iameval.Allow},
		// stsrotator trust keeps the role owner's ExternalId: even the
		// rotator needs it.
		{real, "sts:AssumeRole", tg.RoleArn, trust, true, wrongExt, iameval.ImplicitDeny},
	} {
		got, err := iameval.Evaluate(iameval.Request{Principal: c.principal, Action: c.action, Resource: c.resource, Context: c.ctx, TrustPolicy: c.trust}, admin, c.resourcePolicy)
		if err != nil || got != c.want {
			t.Errorf("%s %s: %v %v, want %v", c.principal, c.action, got, err, c.want)
		}
	}
}
