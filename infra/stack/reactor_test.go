package stack_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stsrotator/stsrotator/infra/stack"
	"github.com/stsrotator/stsrotator/shared/lambdaenv"
	"github.com/stsrotator/stsrotator/shared/logwatch"
)

// Proves: the reactor reserves no concurrency (AWS refuses a reservation
// on accounts at the new-account quota), runs arm64 on provided.al2023
// with JSON logs, alerts to the stack's topic, gives up on events older
// than an hour, cannot start before its policy exists, and is the target
// of both ExpiredToken rules — the consumer-report rule and the one
// CloudTrail rule — so its function policy has two statements whatever
// the number of targets.
func TestReactor(t *testing.T) {
	for _, c := range []struct {
		why string
		fx  func(*testing.T) *fixture
	}{
		{"the repository's config", example},
		{"2,000 targets: nothing about the reactor grows", big},
	} {
		fx := c.fx(t)
		topic := fx.rootRef(t, "AWS::SNS::Topic")
		var fn, fnRes map[string]any
		var fnID, policyID string
		for id, r := range resources(fx.rootJS, "AWS::Lambda::Function") {
			if strings.HasPrefix(id, "ReactorFunction") {
				fn, fnRes, fnID = props(r), r, id
			}
		}
		for id := range resources(fx.rootJS, "AWS::IAM::Policy") {
			if strings.HasPrefix(id, "ReactorPolicy") {
				policyID = id
			}
		}
		if fn == nil || policyID == "" {
			t.Fatalf("%s: no reactor function or policy in the root stack", c.why)
		}
		checks := []struct {
			why       string
			got, want string
		}{
			{"no reserved concurrency", js(fn["ReservedConcurrentExecutions"]), "null"},
			{"Lambda's newest OS-only runtime", js(fn["Runtime"]), `"provided.al2023"`},
			{"arm64, like every deploy build", js(fn["Architectures"]), `["arm64"]`},
			{"Lambda's JSON log format", js(fn["LoggingConfig"].(map[string]any)["LogFormat"]), `"JSON"`},
			{"a fixed name", js(fn["FunctionName"]), `"stsrotator-reactor"`},
			{"alerts go to the stack's topic", js(fn["Environment"].(map[string]any)["Variables"].(map[string]any)[lambdaenv.TopicArn]), `{"Ref":"` + topic + `"}`},
			{"created after its policy", fmt.Sprint(strings.Contains(js(fnRes["DependsOn"]), `"`+policyID+`"`)), "true"},
		}
		for _, k := range checks {
			if k.got != k.want {
				t.Errorf("%s: %s: got %s, want %s", c.why, k.why, k.got, k.want)
			}
		}
		// Issue 19 §1: floods wait in a queue. Both rules deliver to it,
		// and only its event source mapping invokes the reactor, with at
		// most ReactorMaxConcurrency (2, AWS's minimum) concurrent
		// invocations, so a burst can never take the rotators'
		// concurrency; nothing invokes the reactor asynchronously.
		if n := len(resources(fx.rootJS, "AWS::Lambda::EventInvokeConfig")); n != 0 {
			t.Errorf("%s: %d async invoke configs; the reactor is invoked only by its queue", c.why, n)
		}
		var queueID string
		for id, q := range resources(fx.rootJS, "AWS::SQS::Queue") {
			if strings.HasPrefix(id, "ReactorReports") {
				queueID = id
				p := props(q)
				if js(p["SqsManagedSseEnabled"]) != "true" || js(p["MessageRetentionPeriod"]) != "3600" || !strings.Contains(js(p["RedrivePolicy"]), `"maxReceiveCount":3`) {
					t.Errorf("%s: reports queue %s", c.why, js(p))
				}
			}
		}
		rules := resources(fx.rootJS, "AWS::Events::Rule")
		if len(rules) != 2 || queueID == "" {
			t.Errorf("%s: %d rules on the default bus, want 2 (reports, CloudTrail); reports queue %q", c.why, len(rules), queueID)
		}
		for id, r := range rules {
			ts, _ := props(r)["Targets"].([]any)
			if len(ts) != 1 || js(ts[0].(map[string]any)["Arn"]) != `{"Fn::GetAtt":["`+queueID+`","Arn"]}` {
				t.Errorf("%s: rule %s does not target the reports queue: %s", c.why, id, js(props(r)["Targets"]))
			}
		}
		esms := resources(fx.rootJS, "AWS::Lambda::EventSourceMapping")
		if len(esms) != 1 {
			t.Fatalf("%s: %d event source mappings, want the reports queue's", c.why, len(esms))
		}
		for _, m := range esms {
			p := props(m)
			if js(p["ScalingConfig"]) != `{"MaximumConcurrency":2}` || js(p["FunctionResponseTypes"]) != `["ReportBatchItemFailures"]` ||
				js(p["BatchSize"]) != "10" || js(p["EventSourceArn"]) != `{"Fn::GetAtt":["`+queueID+`","Arn"]}` || !strings.Contains(js(p["FunctionName"]), fnID) {
				t.Errorf("%s: event source mapping %s", c.why, js(p))
			}
		}
		perms := 0
		for _, tpl := range allTemplates(fx) {
			for _, p := range resources(tpl, "AWS::Lambda::Permission") {
				if strings.Contains(js(props(p)["FunctionName"]), "ReactorFunction") {
					perms++
				}
			}
		}
		if perms != 0 {
			t.Errorf("%s: the reactor's function policy has %d statements, want none (only its queue's mapping invokes it)", c.why, perms)
		}
		// The claims table: one item per alert key, expiring by TTL.
		var tableID string
		for id, tb := range resources(fx.rootJS, "AWS::DynamoDB::Table") {
			tableID = id
			if p := props(tb); js(p["KeySchema"]) != `[{"AttributeName":"key","KeyType":"HASH"}]` || js(p["TimeToLiveSpecification"]) != `{"AttributeName":"expires","Enabled":true}` ||
				p["BillingMode"] != "PAY_PER_REQUEST" {
				t.Errorf("%s: claims table %s", c.why, js(p))
			}
		}
		if got := js(fn["Environment"].(map[string]any)["Variables"].(map[string]any)[lambdaenv.AlertTable]); tableID == "" || got != `{"Ref":"`+tableID+`"}` {
			t.Errorf("%s: %s = %s, want the claims table %s", c.why, lambdaenv.AlertTable, got, tableID)
		}
	}
}

// allTemplates is every template of a fixture: root, shards and the log
// subscriptions stack.
func allTemplates(fx *fixture) map[string]map[string]any {
	all := map[string]map[string]any{"root": fx.rootJS}
	for id, tpl := range fx.shardJS {
		all[id] = tpl
	}
	if fx.logSubsJS != nil {
		all[stack.LogSubscriptionsID] = fx.logSubsJS
	}
	return all
}

// Proves: the CloudTrail rule takes only aws.* sources, so a custom
// PutEvents copying CloudTrail's detail-type and a target role's ARN
// reaches nothing; the condition is a prefix, not a list of services that
// would drop any it forgot; the pattern is fixed, whatever the config.
func TestCloudTrailRulesOnlyFromAWS(t *testing.T) {
	cases := []struct {
		why string
		fx  func(*testing.T) *fixture
	}{
		{"the repository's config, as deployed", example},
		{"2,000 targets: the same one rule", big},
	}
	var patterns []string
	for _, c := range cases {
		fx := c.fx(t)
		checkCloudTrailRules(t, fx)
		for id, r := range resources(fx.rootJS, "AWS::Events::Rule") {
			p := props(r)["EventPattern"].(map[string]any)
			if js(p["detail-type"]) != `["AWS API Call via CloudTrail"]` {
				continue
			}
			if got := js(p["source"]); got != `[{"prefix":"aws."}]` {
				t.Errorf("%s: %s: source %s, want [{\"prefix\":\"aws.\"}]", c.why, id, got)
			}
			patterns = append(patterns, js(p))
		}
	}
	if len(patterns) != 2 || patterns[0] != patterns[1] {
		t.Errorf("the CloudTrail pattern depends on the config: %v", patterns)
	}
}

// Proves: the reactor's permissions are exactly these statements: its own
// logs; GetSecretValue only on secrets tagged by stsrotator; KMS only
// through Secrets Manager (decrypt) and SNS (alerts); invoking only this
// stack's rotator lanes; publishing only to the alert topic.
func TestReactorPolicyIsExact(t *testing.T) {
	fx := example(t)
	var stmts []any
	for id, r := range resources(fx.rootJS, "AWS::IAM::Policy") {
		if strings.HasPrefix(id, "ReactorPolicy") {
			stmts = props(r)["PolicyDocument"].(map[string]any)["Statement"].([]any)
		}
	}
	want := map[string]string{
		"WriteOwnLogs":                        `["logs:CreateLogStream","logs:PutLogEvents"]`,
		"ReadTargetSecrets":                   `"secretsmanager:GetSecretValue"`,
		"DecryptSecretsThroughSecretsManager": `"kms:Decrypt"`,
		"Alert":                               `"sns:Publish"`,
		"EncryptAlertsThroughSNS":             `["kms:Decrypt","kms:GenerateDataKey"]`,
		"AnnounceAlerts":                      `"events:PutEvents"`,
		"ClaimAlerts":                         `"dynamodb:UpdateItem"`,
		"OnlyTheReactorUsesThisRole":          `["secretsmanager:*","sns:Publish","dynamodb:*","events:PutEvents"]`,
	}
	if len(stmts) != len(want) {
		t.Fatalf("reactor policy has %d statements, want %d: %s", len(stmts), len(want), js(stmts))
	}
	for _, s := range stmts {
		st := s.(map[string]any)
		sid, _ := st["Sid"].(string)
		if got := js(st["Action"]); got != want[sid] {
			t.Errorf("%s: actions %s, want %s", sid, got, want[sid])
		}
		res := js(st["Resource"])
		switch sid {
		case "ReadTargetSecrets":
			// Issue 18 §3: by the secrets' names (the example's five), never
			// secret:* gated only by a tag anyone could add.
			for _, tg := range fx.plan.Config.Targets {
				if !strings.Contains(res, ":secret:"+tg.SecretName+`-??????"`) {
					t.Errorf("secret reads must name %s's secret: %s", tg.Name, res)
				}
			}
			if strings.Contains(res, ":secret:*") || strings.Count(res, ":secret:") != len(fx.plan.Config.Targets) {
				t.Errorf("secret reads must list exactly the targets' secrets: %s", res)
			}
			if js(st["Condition"]) != `{"Null":{"secretsmanager:ResourceTag/stsrotator:target":"false"}}` {
				t.Errorf("secret reads are narrowed by stsrotator's tag too: %s", js(st["Condition"]))
			}
		case "AnnounceAlerts":
			// Only stsrotator's lifecycle events, only on the default bus: the
			// reactor can never publish an ExpiredToken report itself.
			if c := js(st["Condition"]); !strings.Contains(res, "event-bus/default") ||
				c != `{"StringEquals":{"events:detail-type":["Credentials Rotated","Rotation Failed","Alert"],"events:source":"stsrotator"}}` {
				t.Errorf("alert events must be scoped to the default bus and the lifecycle detail-types: %s %s", res, c)
			}
		case "ClaimAlerts":
			if !strings.Contains(res, `"Fn::GetAtt":["ReactorAlertClaims`) || strings.Contains(res, "*") {
				t.Errorf("alert claims must be limited to the claims table: %s", res)
			}
		case "DecryptSecretsThroughSecretsManager", "EncryptAlertsThroughSNS":
			// The URL suffix, not a literal amazonaws.com: the condition must
			// hold in aws-cn too, which the app's target partitions include.
			if c := js(st["Condition"]); !strings.Contains(c, "kms:ViaService") || !strings.Contains(c, "AWS::URLSuffix") {
				t.Errorf("%s: KMS use must go through a service, named for any partition: %s", sid, c)
			}
		}
	}
	// Issue 18 §3: the reactor may invoke exactly its stack's rotator
	// lanes: no identity grant by name pattern, one function permission
	// per lane naming the reactor role's ARN.
	if strings.Contains(js(stmts), "lambda:InvokeFunction") {
		t.Errorf("the reactor's own policy grants lambda:InvokeFunction: %s", js(stmts))
	}
	lanes, perms := 0, 0
	for sid, tpl := range fx.shardJS {
		fns := resources(tpl, "AWS::Lambda::Function")
		lanes += len(fns)
		for id, r := range resources(tpl, "AWS::Lambda::Permission") {
			p := props(r)
			fn, _ := p["FunctionName"].(map[string]any)["Fn::GetAtt"].([]any)
			if p["Action"] != "lambda:InvokeFunction" || len(fn) == 0 || fns[fmt.Sprint(fn[0])] == nil {
				t.Errorf("%s/%s: %s", sid, id, js(p))
				continue
			}
			// The principal is the root stack's reactor role ARN, passed in
			// as a parameter of the shard stack.
			param, _ := p["Principal"].(map[string]any)["Ref"].(string)
			if !strings.Contains(param, "ReactorRole") {
				t.Errorf("%s/%s: principal %s, want the reactor role's ARN", sid, id, js(p["Principal"]))
			}
			perms++
		}
	}
	if lanes == 0 || perms != lanes {
		t.Errorf("%d reactor permissions for %d rotator lanes, want one each", perms, lanes)
	}
	if stack.ReactorTimeout(fx.plan.Config.SweepInterval()) <= stack.Timeout(fx.plan.Config.SweepInterval()) {
		t.Error("the reactor waits for a rotator: its timeout must exceed the rotator's")
	}
}

// Proves: every distinct log group of the targets' logGroups gets exactly
// one subscription filter (a second of ours would take the group's other
// slot), with the pattern the log watcher is written for, delivered to the
// log watcher, in a nested stack of its own that waits for the watcher's
// one permission — logs.amazonaws.com from any log group of this account
// and Region — and the watcher may only publish stsrotator events to the
// default bus.
func TestLogWatch(t *testing.T) {
	fx := example(t)
	groups := fx.plan.LogGroups()
	subs := resources(fx.logSubsJS, "AWS::Logs::SubscriptionFilter")
	if len(subs) != len(groups) || len(groups) == 0 {
		t.Fatalf("%d subscription filters for %d distinct log groups", len(subs), len(groups))
	}
	got := map[string]bool{}
	for _, r := range subs {
		p := props(r)
		got[fmt.Sprint(p["LogGroupName"])] = true
		if p["FilterPattern"] != logwatch.FilterPattern || !strings.Contains(js(p["DestinationArn"]), "LogWatchFunction") {
			t.Errorf("subscription: %s", js(p))
		}
	}
	if len(got) != len(groups) {
		t.Errorf("filters on %v, want one on each of %v", got, groups)
	}
	perms := resources(fx.rootJS, "AWS::Lambda::Permission")
	var permID string
	for id, r := range perms {
		p := props(r)
		if p["Principal"] != "logs.amazonaws.com" {
			continue
		}
		if permID != "" {
			t.Errorf("a second log-group permission %s: the function policy must not grow with log groups", id)
		}
		permID = id
		want := `{"Fn::Join":["",["arn:",{"Ref":"AWS::Partition"},":logs:",{"Ref":"AWS::Region"},":",{"Ref":"AWS::AccountId"},":log-group:*"]]}`
		if js(p["SourceArn"]) != want || js(p["SourceAccount"]) != `{"Ref":"AWS::AccountId"}` || !strings.Contains(js(p["FunctionName"]), "LogWatchFunction") {
			t.Errorf("log-group permission: %s", js(p))
		}
	}
	if permID == "" {
		t.Fatal("no permission for CloudWatch Logs to invoke the log watcher")
	}
	for id, r := range resources(fx.rootJS, "AWS::CloudFormation::Stack") {
		if strings.HasPrefix(id, stack.LogSubscriptionsID) && !strings.Contains(js(r["DependsOn"]), permID) {
			t.Errorf("%s is created without waiting for %s: %s", id, permID, js(r["DependsOn"]))
		}
	}
	for id, r := range resources(fx.rootJS, "AWS::IAM::Role") {
		if !strings.HasPrefix(id, "LogWatchRole") {
			continue
		}
		pol := js(props(r)["Policies"])
		// Issue 18 §3: only ExpiredToken reports, never lifecycle events.
		if !strings.Contains(pol, `"events:PutEvents"`) || !strings.Contains(pol, `"events:detail-type":"ExpiredToken Observed","events:source":"stsrotator"`) || !strings.Contains(pol, `event-bus/default`) {
			t.Errorf("log watcher policy: %s", pol)
		}
	}
}
