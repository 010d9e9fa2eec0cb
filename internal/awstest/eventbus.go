package awstest

import (
	"encoding/json"
	"net/http"
	"strings"
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

// LifecycleRules puts one rule per lifecycle detail-type (Credentials
// Rotated, Rotation Failed, Alert) on bus ("" for the default bus), plus
// one with the reaction rule's ExpiredToken pattern, and returns a
// function listing what each of those rules received, by detail-type
// ("ExpiredToken Observed" for the reaction rule). Rule names are unique,
// so tests sharing a kumo do not see each other's deliveries.
func (e *Env) LifecycleRules(tb testing.TB, bus string) func() map[string][]Delivery {
	tb.Helper()
	ctx := Context(tb)
	eb := e.EventBridge()
	byRule := map[string]string{}
	for _, dt := range []string{events.DetailTypeRotated, events.DetailTypeRotationFailed, events.DetailTypeAlert, events.DetailTypeExpiredToken} {
		name := e.Unique("observe-" + strings.ReplaceAll(strings.ToLower(dt), " ", "-"))
		pattern, _ := json.Marshal(map[string][]string{"source": {events.Source}, "detail-type": {dt}})
		in := &eventbridge.PutRuleInput{Name: aws.String(name), EventPattern: aws.String(string(pattern))}
		tin := &eventbridge.PutTargetsInput{Rule: aws.String(name),
			Targets: []ebtypes.Target{{Id: aws.String("observer"), Arn: aws.String("arn:aws:sns:us-east-1:000000000000:" + name)}}}
		if bus != "" {
			in.EventBusName, tin.EventBusName = aws.String(bus), aws.String(bus)
		}
		if _, err := eb.PutRule(ctx, in); err != nil {
			tb.Fatal(err)
		}
		if _, err := eb.PutTargets(ctx, tin); err != nil {
			tb.Fatal(err)
		}
		byRule[name] = dt
	}
	return func() map[string][]Delivery {
		got := map[string][]Delivery{}
		for _, d := range e.Delivered(tb) {
			if dt, ok := byRule[d.RuleName]; ok {
				got[dt] = append(got[dt], d)
			}
		}
		return got
	}
}
