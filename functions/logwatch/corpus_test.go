package main

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stsrotator/stsrotator/internal/awstest"
	"github.com/stsrotator/stsrotator/internal/eventschema"
	"github.com/stsrotator/stsrotator/shared/events"
	"github.com/stsrotator/stsrotator/shared/expiredcreds"
	"github.com/stsrotator/stsrotator/shared/lambdaenv"
)

// subscriptionPayload is what CloudWatch Logs hands a subscribed function:
// the DATA_MESSAGE JSON, gzipped and base64-encoded under awslogs.data
// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/SubscriptionFilters.html).
func subscriptionPayload(t *testing.T, group string, at time.Time, messages []string) []byte {
	type logEvent struct {
		ID        string `json:"id"`
		Timestamp int64  `json:"timestamp"`
		Message   string `json:"message"`
	}
	var les []logEvent
	for i, m := range messages {
		les = append(les, logEvent{ID: fmt.Sprint(i), Timestamp: at.UnixMilli(), Message: m})
	}
	data, _ := json.Marshal(map[string]any{"messageType": "DATA_MESSAGE", "owner": "210987654321", "logGroup": group,
		"logStream": "app/1", "subscriptionFilters": []string{"stsrotator"}, "logEvents": les})
	var z bytes.Buffer
	w := gzip.NewWriter(&z)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(map[string]any{"awslogs": map[string]string{"data": base64.StdEncoding.EncodeToString(z.Bytes())}})
	return out
}

// Issue proof, end to end: the real logwatch binary under kumo's Runtime
// API turns each corpus rendering, delivered among every negative, into
// exactly one report on kumo's EventBridge with the code, service and
// operation it carries, and nothing for the negatives.
func TestCorpusThroughTheBinary(t *testing.T) {
	env := awstest.Start(t)
	ctx := awstest.Context(t)
	root := awstest.RepoRoot(t)
	f, err := os.Open(filepath.Join(root, expiredcreds.CorpusPath))
	if err != nil {
		t.Fatal(err)
	}
	corpus, err := expiredcreds.ParseCorpus(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	var positives []expiredcreds.Rendering
	var negatives []string
	var cfg strings.Builder
	cfg.WriteString("targets:\n")
	for _, r := range corpus {
		if r.Want == nil {
			negatives = append(negatives, r.Text)
			continue
		}
		// One target (and log group) per rendering, so the per-target rate
		// limit cannot hide a second report.
		fmt.Fprintf(&cfg, "  - name: corpus-%d\n    roleArn: arn:aws:iam::123456789012:role/Corpus%d\n    logGroups: [/corpus/%d]\n", r.Line, r.Line, r.Line)
		positives = append(positives, r)
	}
	cfgPath := filepath.Join(t.TempDir(), lambdaenv.ConfigFile)
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	bus, delivered := env.ObservedBus(t, "corpus")
	name := env.Unique("logwatch")
	out := &awstest.Buffer{}
	env.RunFunction(t, name, awstest.BuildFunction(t, root, "logwatch"),
		[]string{lambdaenv.ConfigPath + "=" + cfgPath, lambdaenv.EventBus + "=" + bus}, out)

	at := time.Now().UTC().Truncate(time.Second)
	for _, r := range positives {
		// The rendering last, after every negative, so a negative that
		// slipped through would take the target's one report.
		msgs := append(append([]string(nil), negatives...), r.Text)
		payload, fnErr, err := env.Invoke(ctx, name, subscriptionPayload(t, fmt.Sprintf("/corpus/%d", r.Line), at, msgs))
		if err != nil || fnErr != "" {
			t.Fatalf("corpus line %d: invoke: %v %s %s\nlogs:\n%s", r.Line, err, fnErr, payload, out.String())
		}
	}
	byTarget := map[string][]events.ExpiredToken{}
	for _, detail := range delivered() {
		d, err := events.ParseExpiredToken([]byte(detail))
		if err != nil {
			t.Fatalf("a delivered report does not validate: %v\n%s", err, detail)
		}
		// The published schema accepts it too, whatever code it carries.
		if err := eventschema.Validate(root, events.DetailTypeExpiredToken, []byte(detail)); err != nil {
			t.Error(err)
		}
		byTarget[d.Target] = append(byTarget[d.Target], d)
	}
	for _, r := range positives {
		got := byTarget[fmt.Sprintf("corpus-%d", r.Line)]
		if len(got) != 1 {
			t.Errorf("corpus line %d (%s): %d reports, want 1", r.Line, r.SDK, len(got))
			continue
		}
		d := got[0]
		if d.ErrorCode != r.Want.Code || d.Service != r.Want.Service || d.Operation != r.Want.Operation || d.Observer.Via != "logs" {
			t.Errorf("corpus line %d (%s): reported %s %q %q via %s, want %+v", r.Line, r.SDK, d.ErrorCode, d.Service, d.Operation, d.Observer.Via, *r.Want)
		}
	}
	if n := len(delivered()); n != len(positives) {
		t.Errorf("%d reports for %d renderings", n, len(positives))
	}
	t.Logf("%d renderings among %d negatives each: %d reports", len(positives), len(negatives), len(delivered()))
}
