package quotacheck

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stsrotator/stsrotator/shared/quotas"
)

// pad is a JSON document {"p":"xxx…"} whose compact form is exactly n
// characters long.
func pad(n int) map[string]any {
	return map[string]any{"p": strings.Repeat("x", n-len(`{"p":""}`))}
}

func tpl(resources map[string]any) Template {
	body := map[string]any{"Resources": resources}
	b, _ := json.Marshal(body)
	return Template{Name: "Test.template.json", Body: body, Bytes: len(b)}
}

func many(n int, make func(i int) map[string]any) map[string]any {
	rs := map[string]any{}
	for i := range n {
		rs[fmt.Sprintf("R%04d", i)] = make(i)
	}
	return rs
}

// Proves: every measured quota passes a template exactly at its limit and
// fails one a step over, with an *quotas.ExceededError for that quota
// naming where. Each case builds the smallest template whose measurement
// is n; the comment says what is measured.
func TestEachQuotaAtTheEdge(t *testing.T) {
	cases := []struct {
		q     quotas.Quota
		build func(n int) []Template
		where string
	}{
		// resources, outputs, parameters per stack
		{quotas.StackResources, func(n int) []Template {
			return []Template{tpl(many(n, func(int) map[string]any { return map[string]any{"Type": "AWS::SNS::Topic"} }))}
		}, "stack Test"},
		{quotas.StackOutputs, func(n int) []Template {
			t := tpl(map[string]any{})
			t.Body["Outputs"] = many(n, func(int) map[string]any { return map[string]any{"Value": "x"} })
			return []Template{t}
		}, "stack Test"},
		{quotas.StackParameters, func(n int) []Template {
			t := tpl(map[string]any{})
			t.Body["Parameters"] = many(n, func(int) map[string]any { return map[string]any{"Type": "String"} })
			return []Template{t}
		}, "stack Test"},
		// the template file's bytes
		{quotas.StackTemplateBytes, func(n int) []Template { t := tpl(map[string]any{}); t.Bytes = n; return []Template{t} }, "stack Test"},
		// stacks in the assembly
		{quotas.StacksPerAccount, func(n int) []Template {
			ts := make([]Template, n)
			for i := range ts {
				ts[i] = tpl(map[string]any{})
				ts[i].Name = fmt.Sprintf("S%d.json", i)
			}
			return ts
		}, "the cloud assembly"},
		// rules on the default bus, across stacks
		{quotas.RulesPerBus, func(n int) []Template {
			return []Template{tpl(many(n, func(int) map[string]any {
				return map[string]any{"Type": "AWS::Events::Rule", "Properties": map[string]any{}}
			}))}
		}, "the default event bus"},
		// targets of one rule
		{quotas.TargetsPerRule, func(n int) []Template {
			ts := make([]any, n)
			return []Template{tpl(map[string]any{"Rule": map[string]any{"Type": "AWS::Events::Rule", "Properties": map[string]any{"Targets": ts}}})}
		}, "stack Test resource Rule"},
		// an event pattern's characters
		{quotas.EventPattern, func(n int) []Template {
			return []Template{tpl(map[string]any{"Rule": map[string]any{"Type": "AWS::Events::Rule", "Properties": map[string]any{"EventPattern": pad(n)}}})}
		}, "stack Test resource Rule"},
		// a role's inline policies, summed over Policies and AWS::IAM::Policy
		{quotas.RoleInlinePolicies, func(n int) []Template {
			return []Template{tpl(map[string]any{
				"Role":   map[string]any{"Type": "AWS::IAM::Role", "Properties": map[string]any{"Policies": []any{map[string]any{"PolicyDocument": pad(100)}}}},
				"Policy": map[string]any{"Type": "AWS::IAM::Policy", "Properties": map[string]any{"Roles": []any{map[string]any{"Ref": "Role"}}, "PolicyDocument": pad(n - 100)}},
			})}
		}, "stack Test resource Role"},
		{quotas.ManagedPolicy, func(n int) []Template {
			return []Template{tpl(map[string]any{"P": map[string]any{"Type": "AWS::IAM::ManagedPolicy", "Properties": map[string]any{"PolicyDocument": pad(n)}}})}
		}, "stack Test resource P"},
		{quotas.ManagedPoliciesPerRole, func(n int) []Template {
			return []Template{tpl(map[string]any{"Role": map[string]any{"Type": "AWS::IAM::Role", "Properties": map[string]any{"ManagedPolicyArns": make([]any, n)}}})}
		}, "stack Test resource Role"},
		{quotas.RoleTrustPolicy, func(n int) []Template {
			return []Template{tpl(map[string]any{"Role": map[string]any{"Type": "AWS::IAM::Role", "Properties": map[string]any{"AssumeRolePolicyDocument": pad(n)}}})}
		}, "stack Test resource Role"},
		// a secret's resource policy, named by its target
		{quotas.SecretResourcePolicy, func(n int) []Template {
			return []Template{tpl(map[string]any{"ReadPolicyApp": map[string]any{"Type": "AWS::SecretsManager::ResourcePolicy",
				"Metadata": map[string]any{"stsrotator:target": "app"}, "Properties": map[string]any{"ResourcePolicy": pad(n)}}})}
		}, "stack Test resource ReadPolicyApp (target app)"},
		// the default bus's policy with the stack's one statement, its Sid
		// being the StatementId
		{quotas.EventBusPolicy, func(n int) []Template {
			over := len(`{"Statement":[{"Sid":"S","p":""}],"Version":"2012-10-17"}`)
			return []Template{tpl(map[string]any{"BusPolicy": map[string]any{"Type": "AWS::Events::EventBusPolicy", "Properties": map[string]any{
				"StatementId": "S", "Statement": map[string]any{"p": strings.Repeat("x", n-over)}}}})}
		}, "stack Test resource BusPolicy"},
		{quotas.KeyPolicy, func(n int) []Template {
			return []Template{tpl(map[string]any{"Key": map[string]any{"Type": "AWS::KMS::Key", "Properties": map[string]any{"KeyPolicy": pad(n)}}})}
		}, "stack Test resource Key"},
		// subscription filters on one log group
		{quotas.SubscriptionFilters, func(n int) []Template {
			return []Template{tpl(many(n, func(int) map[string]any {
				return map[string]any{"Type": "AWS::Logs::SubscriptionFilter", "Properties": map[string]any{"LogGroupName": "/app"}}
			}))}
		}, `log group "/app"`},
		// metrics of one alarm's math
		{quotas.AlarmMetrics, func(n int) []Template {
			ms := []any{map[string]any{"Id": "e", "Expression": "MIN(...)"}}
			for range n {
				ms = append(ms, map[string]any{"MetricStat": map[string]any{}})
			}
			return []Template{tpl(map[string]any{"A": map[string]any{"Type": "AWS::CloudWatch::Alarm", "Properties": map[string]any{"Metrics": ms}}})}
		}, "stack Test resource A"},
		// a function's environment: names plus values
		{quotas.LambdaEnvironment, func(n int) []Template {
			return []Template{tpl(map[string]any{"F": map[string]any{"Type": "AWS::Lambda::Function", "Properties": map[string]any{
				"Environment": map[string]any{"Variables": map[string]any{"K": strings.Repeat("v", n-1)}}}}})}
		}, "stack Test resource F"},
		{quotas.LambdaDescription, func(n int) []Template {
			return []Template{tpl(map[string]any{"F": map[string]any{"Type": "AWS::Lambda::Function", "Properties": map[string]any{"Description": strings.Repeat("é", n)}}})}
		}, "stack Test resource F"},
	}
	for _, c := range cases {
		t.Run(c.q.ID, func(t *testing.T) {
			if errs := only(Check(c.build(c.q.Limit)), c.q.ID); len(errs) != 0 {
				t.Fatalf("at the limit: %v", errs)
			}
			errs := only(Check(c.build(c.q.Limit+1)), c.q.ID)
			var ex *quotas.ExceededError
			if len(errs) != 1 || !errors.As(errs[0], &ex) || ex.Got != c.q.Limit+1 || !strings.Contains(errs[0].Error(), c.where) {
				t.Fatalf("one over: %v", errs)
			}
		})
	}
}

// only keeps the errors about quota id (a case may cross others, e.g. a
// 201-parameter template is also a big one).
func only(errs []error, id string) []error {
	var out []error
	for _, err := range errs {
		var ex *quotas.ExceededError
		if errors.As(err, &ex) && ex.Quota.ID == id {
			out = append(out, err)
		}
	}
	return out
}

// Proves: a function's policy is the sum of its permissions' statements,
// each at its longest: permissions are added until Lambda's 20 KB would be
// crossed; the last count that fits passes and one more fails, naming the
// function.
func TestFunctionPolicyAtTheEdge(t *testing.T) {
	build := func(n int) []Template {
		return []Template{tpl(many(n, func(int) map[string]any {
			return map[string]any{"Type": "AWS::Lambda::Permission", "Properties": map[string]any{
				"Action": "lambda:InvokeFunction", "Principal": "events.amazonaws.com",
				"FunctionName": map[string]any{"Fn::GetAtt": []any{"Fn", "Arn"}},
				"SourceArn":    map[string]any{"Fn::GetAtt": []any{"Rule", "Arn"}},
			}}
		}))}
	}
	n := 1
	for len(only(Check(build(n+1)), quotas.LambdaFunctionPolicy.ID)) == 0 {
		n++
	}
	got := Measure(build(n)).Max[quotas.LambdaFunctionPolicy.ID]
	if n < 2 || got > quotas.LambdaFunctionPolicy.Limit {
		t.Fatalf("%d permissions measure %d bytes", n, got)
	}
	errs := only(Check(build(n+1)), quotas.LambdaFunctionPolicy.ID)
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), `the resource-based policy of function {"Fn::GetAtt":["Fn","Arn"]}`) {
		t.Fatalf("one over: %v", errs)
	}
	t.Logf("%d permissions with worst-case ARNs fit in a function policy (%d of %d bytes); about 9 KB less than the issue saw deployed, since the measure assumes the longest names", n, got, quotas.LambdaFunctionPolicy.Limit)
}

// Proves: deploy-time values are measured at their longest: partition,
// Region and account pseudo parameters, a secret's ARN from its name, any
// other reference as a long generated ARN, and joins rendered.
func TestWorstCase(t *testing.T) {
	body := map[string]any{"Resources": map[string]any{"S": map[string]any{"Type": "AWS::SecretsManager::Secret", "Properties": map[string]any{"Name": "app/x"}}}}
	got := WorstCase(body, map[string]any{"Fn::Join": []any{"", []any{"arn:", map[string]any{"Ref": "AWS::Partition"}, ":", map[string]any{"Ref": "S"}}}})
	if got != "arn:aws-iso-b:arn:aws-iso-b:secretsmanager:ap-southeast-7xx:123456789012:secret:app/x-abcdef" {
		t.Fatalf("got %v", got)
	}
	if s := fmt.Sprint(WorstCase(body, map[string]any{"Ref": "SomeParameter"})); len(s) < 300 {
		t.Fatalf("a parameter's worst case is only %d characters", len(s))
	}
}
