package localstack

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/stsrotator/stsrotator/internal/awstest"
)

// The exact rule patterns the CDK app synthesises (read from the assembly,
// not copied) match every sample in shared/reaction/testdata/match and
// testdata/ignored (CloudTrail events of roles that are no target: the one
// CloudTrail rule delivers them and the reactor drops them) and reject
// every near-miss in testdata/nearmiss, judged by kumo's EventBridge.
func TestSynthesizedPatternsMatchSamples(t *testing.T) {
	asm, err := LoadAssembly(synthesized(t))
	if err != nil {
		t.Fatal(err)
	}
	env := awstest.Start(t)
	ctx := awstest.Context(t)
	eb := env.EventBridge()
	bus := env.Unique("patterns")
	if _, err := eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(bus)}); err != nil {
		t.Fatal(err)
	}
	rules := map[string]string{} // kumo rule name → assembly rule ID
	for i, r := range asm.Rules {
		name := env.Unique("rule") + "-" + string(rune('a'+i))
		rules[name] = r.ID
		if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(name), EventBusName: aws.String(bus), EventPattern: aws.String(r.Pattern)}); err != nil {
			t.Fatalf("kumo refused the synthesized pattern of %s: %v\n%s", r.ID, err, r.Pattern)
		}
		if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(name), EventBusName: aws.String(bus),
			Targets: []ebtypes.Target{{Id: aws.String("sink"), Arn: aws.String("arn:aws:sns:us-east-1:000000000000:" + env.Unique("sink"))}}}); err != nil {
			t.Fatal(err)
		}
	}
	if len(rules) < 2 {
		t.Fatalf("want the consumer-report rule and at least one CloudTrail rule, got %d rules", len(rules))
	}

	root := awstest.RepoRoot(t)
	for _, dir := range []string{"match", "ignored", "nearmiss"} {
		files, err := filepath.Glob(filepath.Join(root, "shared/reaction/testdata", dir, "*.json"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no samples in %s: %v", dir, err)
		}
		for _, f := range files {
			matched := publish(t, env, eb, bus, f, rules)
			switch {
			case dir != "nearmiss" && len(matched) == 0:
				t.Errorf("%s: no synthesized rule matches this sample", filepath.Base(f))
			case dir == "nearmiss" && len(matched) > 0:
				t.Errorf("%s: near-miss matched %v", filepath.Base(f), matched)
			default:
				t.Logf("%s/%s → %v", dir, filepath.Base(f), matched)
			}
		}
	}
}

// publish sends one sample as PutEvents would carry it and returns the
// assembly rules kumo delivered it through.
func publish(t *testing.T, env *awstest.Env, eb *eventbridge.Client, bus, file string, rules map[string]string) []string {
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var ev struct {
		Source     string          `json:"source"`
		DetailType string          `json:"detail-type"`
		Detail     json.RawMessage `json:"detail"`
	}
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	out, err := eb.PutEvents(awstest.Context(t), &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
		EventBusName: aws.String(bus), Source: aws.String(ev.Source), DetailType: aws.String(ev.DetailType), Detail: aws.String(string(ev.Detail))}}})
	if err != nil || out.FailedEntryCount != 0 {
		t.Fatalf("put %s: %v %+v", filepath.Base(file), err, out)
	}
	id := aws.ToString(out.Entries[0].EventId)
	var matched []string
	for _, d := range env.Delivered(t) {
		if d.EventID == id {
			if r, ok := rules[d.RuleName]; ok {
				matched = append(matched, r)
			}
		}
	}
	return matched
}
