package awstest

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/stsrotator/stsrotator/shared/events"
)

// Delivery is one event kumo delivered to a rule target.
type Delivery struct {
	EventID      string `json:"EventId"`
	EventBusName string `json:"EventBusName"`
	RuleName     string `json:"RuleName"`
	Source       string `json:"Source"`
	DetailType   string `json:"DetailType"`
	Detail       string `json:"Detail"`
}

// Delivered lists every delivery kumo has recorded. kumo records them
// synchronously inside PutEvents at its test endpoint
// /kumo/eventbridge/delivered-events.
func (e *Env) Delivered(tb testing.TB) []Delivery {
	tb.Helper()
	resp, err := http.Get(e.URL + "/kumo/eventbridge/delivered-events")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var all []Delivery
	if err := json.NewDecoder(resp.Body).Decode(&all); err != nil {
		tb.Fatalf("kumo's delivered events: %v", err)
	}
	return all
}

// ObservedBus makes a unique bus with a rule for ExpiredToken reports and
// returns it with a function listing the details delivered on it. The
// rule's target is an SNS ARN kumo records but never calls.
func (e *Env) ObservedBus(tb testing.TB, name string) (string, func() []string) {
	tb.Helper()
	ctx := Context(tb)
	eb := e.EventBridge()
	bus := e.Unique(name)
	if _, err := eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(bus)}); err != nil {
		tb.Fatal(err)
	}
	pattern, _ := json.Marshal(map[string][]string{"source": {events.Source}, "detail-type": {events.DetailTypeExpiredToken}})
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("expired"), EventBusName: aws.String(bus), EventPattern: aws.String(string(pattern))}); err != nil {
		tb.Fatal(err)
	}
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("expired"), EventBusName: aws.String(bus),
		Targets: []ebtypes.Target{{Id: aws.String("observer"), Arn: aws.String("arn:aws:sns:us-east-1:000000000000:" + bus)}}}); err != nil {
		tb.Fatal(err)
	}
	return bus, func() []string {
		var got []string
		for _, d := range e.Delivered(tb) {
			if d.EventBusName == bus {
				got = append(got, d.Detail)
			}
		}
		return got
	}
}
