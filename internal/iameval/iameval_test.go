package iameval_test

import (
	"strings"
	"testing"

	"github.com/stsrotator/stsrotator/internal/iameval"
)

const (
	acct   = "123456789012"
	role   = "arn:aws:iam::" + acct + ":role/App"
	other  = "arn:aws:iam::" + acct + ":role/Other"
	secret = "arn:aws:secretsmanager:eu-west-1:" + acct + ":secret:app-AbCdEf"
)

func stmt(effect string, kv ...any) map[string]any {
	s := map[string]any{"Effect": effect}
	for i := 0; i+1 < len(kv); i += 2 {
		s[kv[i].(string)] = kv[i+1]
	}
	return s
}

func pol(stmts ...map[string]any) *iameval.Policy {
	list := make([]any, len(stmts))
	for i, s := range stmts {
		list[i] = s
	}
	return iameval.MustParse(map[string]any{"Version": "2012-10-17", "Statement": list})
}

// Each case follows one rule of AWS's evaluation logic or condition
// operators; the line names the rule.
func TestEvaluate(t *testing.T) {
	allowID := pol(stmt("Allow", "Action", "secretsmanager:*", "Resource", "*"))
	read := iameval.Request{Principal: role, Action: "secretsmanager:GetSecretValue", Resource: secret}
	for _, c := range []struct {
		rule     string
		req      iameval.Request
		identity []*iameval.Policy
		resource *iameval.Policy
		want     iameval.Decision
	}{
		{"no statement allows: implicit deny", read, nil, nil, iameval.ImplicitDeny},
		{"an identity-policy Allow allows (same account)", read, []*iameval.Policy{allowID}, nil, iameval.Allow},
		{"a resource-policy Allow naming the principal allows (same account)", read, nil,
			pol(stmt("Allow", "Principal", map[string]any{"AWS": role}, "Action", "secretsmanager:GetSecretValue", "Resource", "*")), iameval.Allow},
		{"a resource-policy Allow naming the account root allows its principals", read, nil,
			pol(stmt("Allow", "Principal", map[string]any{"AWS": "arn:aws:iam::" + acct + ":root"}, "Action", "secretsmanager:*", "Resource", "*")), iameval.Allow},
		{"a resource-policy Allow for another principal does not", read, nil,
			pol(stmt("Allow", "Principal", map[string]any{"AWS": other}, "Action", "secretsmanager:GetSecretValue", "Resource", "*")), iameval.ImplicitDeny},
		{"an explicit Deny in the resource policy wins over an identity Allow", read, []*iameval.Policy{allowID},
			pol(stmt("Deny", "Principal", "*", "Action", "secretsmanager:GetSecretValue", "Resource", "*")), iameval.ExplicitDeny},
		{"actions match case-insensitively with wildcards", iameval.Request{Principal: role, Action: "SecretsManager:PutSecretValue", Resource: secret},
			[]*iameval.Policy{pol(stmt("Allow", "Action", "secretsmanager:Put*", "Resource", "*"))}, nil, iameval.Allow},
		{"NotAction allows every other action", read, []*iameval.Policy{pol(stmt("Allow", "NotAction", "secretsmanager:Put*", "Resource", "*"))}, nil, iameval.Allow},
		{"NotResource excludes the named resource", read, []*iameval.Policy{pol(stmt("Allow", "Action", "*", "NotResource", "arn:aws:secretsmanager:*:*:secret:app-??????"))}, nil, iameval.ImplicitDeny},
		{"? is exactly one character", read, []*iameval.Policy{pol(stmt("Allow", "Action", "*", "Resource", "arn:aws:secretsmanager:*:*:secret:app-?????"))}, nil, iameval.ImplicitDeny},
		{"ArnNotEquals exempts the exact ARN only", read, []*iameval.Policy{allowID},
			pol(stmt("Deny", "Principal", "*", "Action", "*", "Resource", "*", "Condition", map[string]any{"ArnNotEquals": map[string]any{"aws:PrincipalArn": role}})), iameval.Allow},
		{"ArnNotEquals denies a role with the same name under another path",
			iameval.Request{Principal: "arn:aws:iam::" + acct + ":role/x/App", Action: "secretsmanager:GetSecretValue", Resource: secret}, []*iameval.Policy{allowID},
			pol(stmt("Deny", "Principal", "*", "Action", "*", "Resource", "*", "Condition", map[string]any{"ArnNotEquals": map[string]any{"aws:PrincipalArn": role}})), iameval.ExplicitDeny},
		{"ArnLike with a path wildcard matches any role created under that path",
			iameval.Request{Principal: "arn:aws:iam::" + acct + ":role/stack/rotator/evil", Action: "secretsmanager:GetSecretValue", Resource: secret}, nil,
			pol(stmt("Allow", "Principal", "*", "Action", "*", "Resource", "*", "Condition", map[string]any{"ArnLike": map[string]any{"aws:PrincipalArn": "arn:aws:iam::" + acct + ":role/stack/rotator/*"}})), iameval.Allow},
		// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_ARN:
		// "Each of the six colon-delimited components of the ARN is checked
		// separately and each can include ... wildcards", for ArnEquals too.
		{"ArnEquals takes wildcards, as ArnLike does", read, nil,
			pol(stmt("Allow", "Principal", "*", "Action", "*", "Resource", "*", "Condition", map[string]any{"ArnEquals": map[string]any{"aws:PrincipalArn": "arn:aws:iam::" + acct + ":role/A*"}})), iameval.Allow},
		{"an ARN operator's * never spans a component: five components match no ARN", read, nil,
			pol(stmt("Allow", "Principal", "*", "Action", "*", "Resource", "*", "Condition", map[string]any{"ArnLike": map[string]any{"aws:PrincipalArn": "arn:aws:iam:*:role/App"}})), iameval.ImplicitDeny},
		{"ARN operators compare case-sensitively", read, []*iameval.Policy{allowID},
			pol(stmt("Deny", "Principal", "*", "Action", "*", "Resource", "*", "Condition", map[string]any{"ArnNotEquals": map[string]any{"aws:PrincipalArn": "arn:aws:iam::" + acct + ":role/app"}})), iameval.ExplicitDeny},
		// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalarn:
		// aws:PrincipalArn is a role's, user's, federated user's or root's
		// ARN; a service principal has aws:PrincipalServiceName instead.
		{"a service principal has no aws:PrincipalArn (Null true holds)",
			iameval.Request{Principal: "logs.amazonaws.com", Action: "secretsmanager:GetSecretValue", Resource: secret}, nil,
			pol(stmt("Allow", "Principal", map[string]any{"Service": "logs.amazonaws.com"}, "Action", "*", "Resource", "*", "Condition", map[string]any{"Null": map[string]any{"aws:PrincipalArn": "true"}})), iameval.Allow},
		{"a service principal: ArnNotEquals on the absent aws:PrincipalArn holds, so the Deny applies",
			iameval.Request{Principal: "secretsmanager.amazonaws.com", Action: "secretsmanager:PutSecretValue", Resource: secret}, nil,
			pol(stmt("Allow", "Principal", map[string]any{"Service": "secretsmanager.amazonaws.com"}, "Action", "*", "Resource", "*"),
				stmt("Deny", "Principal", "*", "Action", "*", "Resource", "*", "Condition", map[string]any{"ArnNotEquals": map[string]any{"aws:PrincipalArn": role}})), iameval.ExplicitDeny},
		// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_logic_multiple_context_keys_or_values.html:
		// several keys are ANDed, several values of one key ORed.
		{"several values of one key are ORed", read, nil,
			pol(stmt("Allow", "Principal", "*", "Action", "*", "Resource", "*", "Condition", map[string]any{"ArnEquals": map[string]any{"aws:PrincipalArn": []any{other, role}}})), iameval.Allow},
		{"several keys under one operator are ANDed", read, nil,
			pol(stmt("Allow", "Principal", "*", "Action", "*", "Resource", "*", "Condition", map[string]any{"StringEquals": map[string]any{"aws:PrincipalAccount": acct, "aws:SourceIdentity": "x"}})), iameval.ImplicitDeny},
		{"a Deny with NotAction denies every other action", iameval.Request{Principal: role, Action: "secretsmanager:PutSecretValue", Resource: secret}, []*iameval.Policy{allowID},
			pol(stmt("Deny", "Principal", "*", "NotAction", "secretsmanager:GetSecretValue", "Resource", "*")), iameval.ExplicitDeny},
		{"ForAllValues with a negated operator holds over an absent key", read, []*iameval.Policy{allowID},
			pol(stmt("Deny", "Principal", "*", "Action", "*", "Resource", "*", "Condition", map[string]any{"ForAllValues:StringNotLike": map[string]any{"aws:TagKeys": "x"}})), iameval.ExplicitDeny},
		{"conditions under different operators are ANDed",
			read, []*iameval.Policy{allowID},
			pol(stmt("Deny", "Principal", "*", "Action", "*", "Resource", "*", "Condition", map[string]any{
				"ArnNotEquals": map[string]any{"aws:PrincipalArn": other}, "StringNotEquals": map[string]any{"aws:PrincipalAccount": acct}})), iameval.Allow},
		{"ForAnyValue:StringLike holds when one tag key matches",
			iameval.Request{Principal: role, Action: "secretsmanager:TagResource", Resource: secret, Context: map[string][]string{"aws:TagKeys": {"team", "stsrotator:target"}}},
			[]*iameval.Policy{allowID},
			pol(stmt("Deny", "Principal", "*", "Action", "*", "Resource", "*", "Condition", map[string]any{"ForAnyValue:StringLike": map[string]any{"aws:TagKeys": "stsrotator:*"}})), iameval.ExplicitDeny},
		{"ForAnyValue fails when the key is absent",
			iameval.Request{Principal: role, Action: "secretsmanager:TagResource", Resource: secret}, []*iameval.Policy{allowID},
			pol(stmt("Deny", "Principal", "*", "Action", "*", "Resource", "*", "Condition", map[string]any{"ForAnyValue:StringLike": map[string]any{"aws:TagKeys": "stsrotator:*"}})), iameval.Allow},
		{"ForAllValues holds over an empty set",
			read, []*iameval.Policy{allowID},
			pol(stmt("Deny", "Principal", "*", "Action", "*", "Resource", "*", "Condition", map[string]any{"ForAllValues:StringEquals": map[string]any{"aws:TagKeys": "x"}})), iameval.ExplicitDeny},
		{"Bool compares the request's value", iameval.Request{Principal: role, Action: "secretsmanager:GetSecretValue", Resource: secret, Context: map[string][]string{"aws:SecureTransport": {"false"}}},
			[]*iameval.Policy{allowID},
			pol(stmt("Deny", "Principal", "*", "Action", "*", "Resource", "*", "Condition", map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}})), iameval.ExplicitDeny},
		{"Null true holds for an absent key", read, []*iameval.Policy{allowID},
			pol(stmt("Deny", "Principal", "*", "Action", "*", "Resource", "*", "Condition", map[string]any{"Null": map[string]any{"aws:SourceIdentity": "true"}})), iameval.ExplicitDeny},
		{"IfExists holds for an absent key", read, nil,
			pol(stmt("Allow", "Principal", "*", "Action", "*", "Resource", "*", "Condition", map[string]any{"StringEqualsIfExists": map[string]any{"aws:SourceIdentity": "x"}})), iameval.Allow},
		{"a positive operator fails for an absent key", read, nil,
			pol(stmt("Allow", "Principal", "*", "Action", "*", "Resource", "*", "Condition", map[string]any{"StringEquals": map[string]any{"aws:SourceIdentity": "x"}})), iameval.ImplicitDeny},
		{"cross-account: a resource-policy Allow alone is not enough",
			iameval.Request{Principal: "arn:aws:iam::210987654321:role/Reader", Action: "secretsmanager:GetSecretValue", Resource: secret}, nil,
			pol(stmt("Allow", "Principal", map[string]any{"AWS": "210987654321"}, "Action", "*", "Resource", "*")), iameval.ImplicitDeny},
		{"cross-account: both sides allow",
			iameval.Request{Principal: "arn:aws:iam::210987654321:role/Reader", Action: "secretsmanager:GetSecretValue", Resource: secret}, []*iameval.Policy{allowID},
			pol(stmt("Allow", "Principal", map[string]any{"AWS": "210987654321"}, "Action", "*", "Resource", "*")), iameval.Allow},
		{"a trust policy must allow the principal: an identity Allow alone is not enough",
			iameval.Request{Principal: role, Action: "sts:AssumeRole", Resource: other, TrustPolicy: true}, []*iameval.Policy{allowID, pol(stmt("Allow", "Action", "sts:AssumeRole", "Resource", "*"))},
			pol(stmt("Allow", "Principal", map[string]any{"AWS": "arn:aws:iam::" + acct + ":root"}, "Action", "sts:AssumeRole", "Condition", map[string]any{"ArnEquals": map[string]any{"aws:PrincipalArn": other}})), iameval.ImplicitDeny},
		{"a trust policy naming the account root delegates to the identity policy",
			iameval.Request{Principal: role, Action: "sts:AssumeRole", Resource: other, TrustPolicy: true}, []*iameval.Policy{pol(stmt("Allow", "Action", "sts:AssumeRole", "Resource", "*"))},
			pol(stmt("Allow", "Principal", map[string]any{"AWS": acct}, "Action", "sts:AssumeRole")), iameval.Allow},
		{"a trust policy naming the account root: no identity Allow, no assume",
			iameval.Request{Principal: role, Action: "sts:AssumeRole", Resource: other, TrustPolicy: true}, nil,
			pol(stmt("Allow", "Principal", map[string]any{"AWS": acct}, "Action", "sts:AssumeRole")), iameval.ImplicitDeny},
		{"a trust policy naming the role itself needs no identity Allow (same account)",
			iameval.Request{Principal: role, Action: "sts:AssumeRole", Resource: other, TrustPolicy: true}, nil,
			pol(stmt("Allow", "Principal", map[string]any{"AWS": role}, "Action", "sts:AssumeRole")), iameval.Allow},
	} {
		got, err := iameval.Evaluate(c.req, c.identity, c.resource)
		if err != nil || got != c.want {
			t.Errorf("%s: %v %v, want %v", c.rule, got, err, c.want)
		}
	}
}

// What the evaluator cannot decide is an error, never an allow.
func TestEvaluateRefusesWhatItDoesNotKnow(t *testing.T) {
	read := iameval.Request{Principal: role, Action: "secretsmanager:GetSecretValue", Resource: secret}
	if _, err := iameval.Parse([]byte(`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*","Condition":{"NumericLessThan":{"x":"1"}}}]}`)); err == nil || !strings.Contains(err.Error(), "unknown condition operator") {
		t.Errorf("unknown operator: %v", err)
	}
	p, err := iameval.Parse([]byte(`{"Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":"x"},"Action":"*","Resource":"*"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if d, err := iameval.Evaluate(read, nil, p); err == nil || d != iameval.ImplicitDeny {
		t.Errorf("NotPrincipal: %v %v", d, err)
	}
	for doc, want := range map[string]string{
		`{"Statement":[{"Effect":"Maybe","Action":"*"}]}`:                                             "Effect",
		`{"Statement":[{"Effect":"Allow","Action":{"Fn::Join":["",["a"]]}}]}`:                         "unresolved intrinsic",
		`{"Statement":[{"Effect":"Allow","Action":"*","NotAction":"x"}]}`:                             "exactly one of Action and NotAction",
		`{"Version":"2012-10-17"}`:                                                                    "no Statement",
		`{"Statement":[{"Effect":"Allow","Action":"*","Condition":{"ForSomeValues:StringLike":{}}}]}`: "unknown set operator",
	} {
		if _, err := iameval.Parse([]byte(doc)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", doc, err, want)
		}
	}
}

func TestResolve(t *testing.T) {
	v, err := iameval.Resolve(map[string]any{"A": []any{
		map[string]any{"Fn::Join": []any{"", []any{"arn:", map[string]any{"Ref": "AWS::Partition"}, ":iam::", map[string]any{"Ref": "AWS::AccountId"}, ":role/x"}}},
		map[string]any{"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/y"},
		map[string]any{"Fn::GetAtt": []any{"Role1", "Arn"}},
	}}, map[string]string{"AWS::Partition": "aws", "AWS::AccountId": acct, "Role1.Arn": role})
	if err != nil {
		t.Fatal(err)
	}
	got := v.(map[string]any)["A"].([]any)
	if got[0] != "arn:aws:iam::"+acct+":role/x" || got[1] != "arn:aws:iam::"+acct+":role/y" || got[2] != role {
		t.Errorf("%v", got)
	}
	if _, err := iameval.Resolve(map[string]any{"Ref": "Missing"}, nil); err == nil {
		t.Error("an unknown Ref resolved")
	}
	if _, err := iameval.Resolve(map[string]any{"Fn::If": []any{}}, nil); err == nil {
		t.Error("an unknown intrinsic resolved")
	}
}

// Any document: Parse never panics, and a parsed policy can always be
// evaluated (an error is fine, a panic is not).
func FuzzParse(f *testing.F) {
	f.Add(`{"Statement":[{"Effect":"Deny","Principal":{"AWS":"*"},"Action":["secretsmanager:PutSecretValue"],"Resource":"*","Condition":{"ArnNotEquals":{"aws:PrincipalArn":["arn:aws:iam::1:role/a"]}}}]}`)
	f.Add(`{"Statement":{"Effect":"Allow","Principal":"*","NotAction":"s3:*","NotResource":"arn:*","Condition":{"ForAnyValue:StringLike":{"aws:TagKeys":"stsrotator:*"},"Null":{"x":"true"}}}}`)
	f.Add(`{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"BoolIfExists":{"aws:SecureTransport":true}}}]}`)
	f.Fuzz(func(t *testing.T, doc string) {
		p, err := iameval.Parse([]byte(doc))
		if err != nil {
			return
		}
		req := iameval.Request{Principal: role, Action: "secretsmanager:PutSecretValue", Resource: secret, Context: map[string][]string{"aws:TagKeys": {"a", "b"}}}
		_, _ = iameval.Evaluate(req, []*iameval.Policy{p}, nil)
		_, _ = iameval.Evaluate(req, nil, p)
	})
}
