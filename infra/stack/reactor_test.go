package stack_test

import (
	"strings"
	"testing"

	"github.com/stsrotator/stsrotator/infra/stack"
	"github.com/stsrotator/stsrotator/shared/lambdaenv"
	"github.com/stsrotator/stsrotator/shared/logwatch"
)

// Proves: the reactor is one process (reserved concurrency 1), arm64 on
// provided.al2023 with JSON logs, alerts to the stack's topic, gives up on
// events older than an hour, and is the target of every ExpiredToken rule
// (the consumer-report rule and every shard's CloudTrail rules).
func TestReactor(t *testing.T) {
	fx := example(t)
	topic := fx.rootRef(t, "AWS::SNS::Topic")
	var fn map[string]any
	var fnID string
	for id, r := range resources(fx.rootJS, "AWS::Lambda::Function") {
		if strings.HasPrefix(id, "ReactorFunction") {
			fn, fnID = props(r), id
		}
	}
	if fn == nil {
		t.Fatal("no reactor function in the root stack")
	}
	checks := []struct {
		why       string
		got, want string
	}{
		{"one process, so its alert debounce is exact", js(fn["ReservedConcurrentExecutions"]), "1"},
		{"Lambda's newest OS-only runtime", js(fn["Runtime"]), `"provided.al2023"`},
		{"arm64, like every deploy build", js(fn["Architectures"]), `["arm64"]`},
		{"Lambda's JSON log format", js(fn["LoggingConfig"].(map[string]any)["LogFormat"]), `"JSON"`},
		{"a fixed name", js(fn["FunctionName"]), `"stsrotator-reactor"`},
		{"alerts go to the stack's topic", js(fn["Environment"].(map[string]any)["Variables"].(map[string]any)[lambdaenv.TopicArn]), `{"Ref":"` + topic + `"}`},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %s, want %s", c.why, c.got, c.want)
		}
	}
	for _, r := range resources(fx.rootJS, "AWS::Lambda::EventInvokeConfig") {
		if p := props(r); js(p["MaximumEventAgeInSeconds"]) != "3600" || js(p["MaximumRetryAttempts"]) != "2" {
			t.Errorf("async config: %s", js(p))
		}
	}
	targetsReactor := func(rule map[string]any, root bool) bool {
		ts, _ := props(rule)["Targets"].([]any)
		if len(ts) != 1 {
			return false
		}
		arn := js(ts[0].(map[string]any)["Arn"])
		if root {
			return arn == `{"Fn::GetAtt":["`+fnID+`","Arn"]}`
		}
		return strings.Contains(arn, "referencetoStsrotatorReactorFunction")
	}
	for id, r := range resources(fx.rootJS, "AWS::Events::Rule") {
		if !targetsReactor(r, true) {
			t.Errorf("root rule %s does not target the reactor: %s", id, js(props(r)["Targets"]))
		}
	}
	for sid, tpl := range fx.shardJS {
		rules := resources(tpl, "AWS::Events::Rule")
		if len(rules) == 0 {
			t.Errorf("%s has no CloudTrail rule", sid)
		}
		for id, r := range rules {
			if !targetsReactor(r, false) {
				t.Errorf("%s rule %s does not target the reactor", sid, id)
			}
		}
	}
}

// Proves: every shard's CloudTrail rule takes only aws.* sources, so a
// custom PutEvents copying CloudTrail's detail-type and a target role's
// ARN reaches nothing; the condition is a prefix, not a list of services
// that would drop any it forgot; and it keeps the fullest role chunks
// (2,000 targets) under EventBridge's pattern limit.
func TestCloudTrailRulesOnlyFromAWS(t *testing.T) {
	cases := []struct {
		why string
		fx  func(*testing.T) *fixture
	}{
		{"the repository's config, as deployed", example},
		{"2,000 targets, where patterns come closest to the limit", big},
	}
	for _, c := range cases {
		fx := c.fx(t)
		rules := 0
		for sid, tpl := range fx.shardJS {
			for id, r := range resources(tpl, "AWS::Events::Rule") {
				rules++
				p := props(r)["EventPattern"].(map[string]any)
				if got := js(p["source"]); got != `[{"prefix":"aws."}]` {
					t.Errorf("%s: %s/%s: source %s, want [{\"prefix\":\"aws.\"}]", c.why, sid, id, got)
				}
				if n := len(js(p)); n > stack.MaxPatternChars {
					t.Errorf("%s: %s/%s: pattern of %d chars with the source condition, over %d", c.why, sid, id, n, stack.MaxPatternChars)
				}
			}
		}
		if rules == 0 {
			t.Errorf("%s: no CloudTrail rule to check", c.why)
		}
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
		"AskRotatorsToRotate":                 `"lambda:InvokeFunction"`,
		"Alert":                               `"sns:Publish"`,
		"EncryptAlertsThroughSNS":             `["kms:Decrypt","kms:GenerateDataKey"]`,
		"AnnounceAlerts":                      `"events:PutEvents"`,
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
			if js(st["Condition"]) != `{"Null":{"secretsmanager:ResourceTag/stsrotator:target":"false"}}` {
				t.Errorf("secret reads must be scoped to stsrotator's tag: %s", js(st["Condition"]))
			}
		case "AskRotatorsToRotate":
			if !strings.Contains(res, ":function:stsrotator-shard*") {
				t.Errorf("invoke must be limited to this stack's rotator lanes: %s", res)
			}
		case "AnnounceAlerts":
			// Only stsrotator's lifecycle events, only on the default bus: the
			// reactor can never publish an ExpiredToken report itself.
			if c := js(st["Condition"]); !strings.Contains(res, "event-bus/default") ||
				c != `{"StringEquals":{"events:detail-type":["Credentials Rotated","Rotation Failed","Alert"],"events:source":"stsrotator"}}` {
				t.Errorf("alert events must be scoped to the default bus and the lifecycle detail-types: %s %s", res, c)
			}
		case "DecryptSecretsThroughSecretsManager", "EncryptAlertsThroughSNS":
			// The URL suffix, not a literal amazonaws.com: the condition must
			// hold in aws-cn too, which the app's target partitions include.
			if c := js(st["Condition"]); !strings.Contains(c, "kms:ViaService") || !strings.Contains(c, "AWS::URLSuffix") {
				t.Errorf("%s: KMS use must go through a service, named for any partition: %s", sid, c)
			}
		}
	}
	if stack.ReactorTimeout(fx.plan.Config.SweepInterval()) <= stack.Timeout(fx.plan.Config.SweepInterval()) {
		t.Error("the reactor waits for a rotator: its timeout must exceed the rotator's")
	}
}

// Proves: every target's logGroups get a subscription filter with the
// pattern the log watcher is written for, delivered to the log watcher,
// which may only publish stsrotator events to the default bus.
func TestLogWatch(t *testing.T) {
	fx := example(t)
	var groups []string
	for _, tg := range fx.plan.Config.Targets {
		groups = append(groups, tg.LogGroups...)
	}
	subs := resources(fx.rootJS, "AWS::Logs::SubscriptionFilter")
	if len(subs) != len(groups) || len(groups) == 0 {
		t.Fatalf("%d subscription filters for %d log groups", len(subs), len(groups))
	}
	for _, r := range subs {
		p := props(r)
		if p["FilterPattern"] != logwatch.FilterPattern || !strings.Contains(js(p["DestinationArn"]), "LogWatchFunction") {
			t.Errorf("subscription: %s", js(p))
		}
	}
	for id, r := range resources(fx.rootJS, "AWS::IAM::Role") {
		if !strings.HasPrefix(id, "LogWatchRole") {
			continue
		}
		pol := js(props(r)["Policies"])
		if !strings.Contains(pol, `"events:PutEvents"`) || !strings.Contains(pol, `"events:source":"stsrotator"`) || !strings.Contains(pol, `event-bus/default`) {
			t.Errorf("log watcher policy: %s", pol)
		}
	}
}
