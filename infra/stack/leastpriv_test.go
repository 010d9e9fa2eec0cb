package stack_test

import (
	"strings"
	"testing"

	"github.com/stsrotator/stsrotator/infra/plan"
	"github.com/stsrotator/stsrotator/internal/iameval"
)

// Proves (issue 18 §3, "least privilege by name"): the reactor's and the
// log watcher's SYNTHESIZED policies, evaluated with AWS's documented
// logic (internal/iameval), allow their job and nothing next to it: the
// reactor reads a target's secret but not another secret someone tagged
// stsrotator:target, invokes no function on its own policy (each rotator's
// function policy names it), and claims alerts only in its table, all only
// from its own function (a role passed to another function does nothing:
// lambda:SourceFunctionArn); the log
// watcher puts ExpiredToken reports but not Credentials Rotated or Alert.
func TestAbuse_ReactorAndLogWatcherBeyondTheirJob(t *testing.T) {
	fx := example(t)
	// The root stack's own resources get deploy-time stand-ins: a Ref is
	// the logical ID, an Arn an ARN naming it (the claims table's in
	// DynamoDB's table form).
	values := map[string]string{}
	for k, v := range deployed {
		values[k] = v
	}
	claims := ""
	for id, r := range fx.rootJS["Resources"].(map[string]any) {
		values[id] = id
		values[id+".Arn"] = "arn:aws:cloudformation:eu-west-1:123456789012:stand-in/" + id
		if r.(map[string]any)["Type"] == "AWS::DynamoDB::Table" {
			claims = "arn:aws:dynamodb:eu-west-1:123456789012:table/" + id
			values[id+".Arn"] = claims
		}
	}
	resolve := func(doc any) *iameval.Policy { return resolvedPolicyWith(t, doc, values) }
	var reactor, logwatch []*iameval.Policy
	for id, r := range resources(fx.rootJS, "AWS::IAM::Policy") {
		if strings.HasPrefix(id, "ReactorPolicy") {
			reactor = append(reactor, resolve(props(r)["PolicyDocument"]))
		}
	}
	for id, r := range resources(fx.rootJS, "AWS::IAM::Role") {
		if strings.HasPrefix(id, "LogWatchRole") {
			for _, p := range props(r)["Policies"].([]any) {
				logwatch = append(logwatch, resolve(p.(map[string]any)["PolicyDocument"]))
			}
		}
	}
	if len(reactor) != 1 || len(logwatch) != 1 {
		t.Fatalf("%d reactor and %d log watcher policies", len(reactor), len(logwatch))
	}
	const acct = "arn:aws:iam::123456789012:"
	target := fx.plan.Config.Targets[0]
	// Lambda puts the calling function's ARN on every call its code makes
	// with the execution role (lambda:SourceFunctionArn).
	fromReactor := map[string][]string{"lambda:SourceFunctionArn": {"arn:aws:lambda:eu-west-1:123456789012:function:" + plan.ReactorFunctionName(plan.DefaultStackName)}}
	fromElsewhere := map[string][]string{"lambda:SourceFunctionArn": {"arn:aws:lambda:eu-west-1:123456789012:function:admins-own-function"}}
	tagged := map[string][]string{"secretsmanager:ResourceTag/stsrotator:target": {target.Name}}
	with := func(a, b map[string][]string) map[string][]string {
		m := map[string][]string{}
		for k, v := range a {
			m[k] = v
		}
		for k, v := range b {
			m[k] = v
		}
		return m
	}
	report := func(dt string) map[string][]string {
		return map[string][]string{"events:source": {"stsrotator"}, "events:detail-type": {dt}}
	}
	bus := "arn:aws:events:eu-west-1:123456789012:event-bus/default"
	for _, c := range []struct {
		why      string
		policies []*iameval.Policy
		action   string
		resource string
		ctx      map[string][]string
		want     iameval.Decision
	}{
		{"the reactor reads a target's secret", reactor, "secretsmanager:GetSecretValue",
			"arn:aws:secretsmanager:eu-west-1:123456789012:secret:" + target.SecretName + "-AbCdEf", with(tagged, fromReactor), iameval.Allow},
		{"the reactor cannot read another secret, even one tagged stsrotator:target", reactor, "secretsmanager:GetSecretValue",
			"arn:aws:secretsmanager:eu-west-1:123456789012:secret:payroll/db-password-AbCdEf", with(tagged, fromReactor), iameval.ImplicitDeny},
		{"the reactor role passed to another function (iam:PassRole) reads no secret", reactor, "secretsmanager:GetSecretValue",
			"arn:aws:secretsmanager:eu-west-1:123456789012:secret:" + target.SecretName + "-AbCdEf", with(tagged, fromElsewhere), iameval.ExplicitDeny},
		{"the reactor role passed to another function sends no alert", reactor, "sns:Publish",
			"arn:aws:sns:eu-west-1:123456789012:Alerts", fromElsewhere, iameval.ExplicitDeny},
		{"the reactor's own policy invokes no function (the rotators' function policies name it)", reactor, "lambda:InvokeFunction",
			"arn:aws:lambda:eu-west-1:123456789012:function:stsrotator-shard-evil", fromReactor, iameval.ImplicitDeny},
		{"the reactor claims alerts in its table", reactor, "dynamodb:UpdateItem", claims, fromReactor, iameval.Allow},
		{"the reactor role passed to another function claims no alert", reactor, "dynamodb:UpdateItem", claims, fromElsewhere, iameval.ExplicitDeny},
		{"the reactor cannot write another table", reactor, "dynamodb:UpdateItem",
			"arn:aws:dynamodb:eu-west-1:123456789012:table/someone-elses", fromReactor, iameval.ImplicitDeny},
		{"the log watcher puts ExpiredToken reports", logwatch, "events:PutEvents", bus, report("ExpiredToken Observed"), iameval.Allow},
		{"the log watcher cannot put Credentials Rotated", logwatch, "events:PutEvents", bus, report("Credentials Rotated"), iameval.ImplicitDeny},
		{"the log watcher cannot put Alert", logwatch, "events:PutEvents", bus, report("Alert"), iameval.ImplicitDeny},
	} {
		got, err := iameval.Evaluate(iameval.Request{Principal: acct + "role/x", Action: c.action, Resource: c.resource, Context: c.ctx}, c.policies, nil)
		if err != nil || got != c.want {
			t.Errorf("%s: %v %v, want %v", c.why, got, err, c.want)
		}
	}
}
