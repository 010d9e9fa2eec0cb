package reaction

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/events"
	"github.com/stsrotator/stsrotator/shared/rotation"
)

// Invoker is the narrowest Lambda surface InvokeRotator needs.
type Invoker interface {
	Invoke(context.Context, *lambda.InvokeInput, ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

// InvokeRotator asks the deployed rotator function to force a rotation,
// so only the rotator's role can assume target roles.
type InvokeRotator struct {
	Lambda Invoker
	// FunctionFor names the rotator function serving a target.
	FunctionFor func(target string) string
}

// Rotate invokes the rotator synchronously and reads its result.
func (r InvokeRotator) Rotate(ctx context.Context, t config.Target, reason string) (rotation.Result, error) {
	payload, err := json.Marshal(rotation.Invocation{Target: t.Name, Force: true, Reason: reason, Why: events.CauseExpiredTokenReport})
	if err != nil {
		return rotation.Result{}, err
	}
	fn := r.FunctionFor(t.Name)
	out, err := r.Lambda.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(fn), Payload: payload})
	if err != nil {
		return rotation.Result{}, fmt.Errorf("invoke %s: %w", fn, err)
	}
	if out.FunctionError != nil {
		var fe struct {
			ErrorMessage string `json:"errorMessage"`
		}
		msg := string(out.Payload)
		if json.Unmarshal(out.Payload, &fe) == nil && fe.ErrorMessage != "" {
			msg = fe.ErrorMessage
		}
		// The rotator's errors carry no secret material; the raw payload
		// is shown (cut) only when it is not Lambda's error shape.
		return rotation.Result{Target: t.Name, Outcome: rotation.Failed, Reason: fmt.Sprintf("rotator %s: %s (%s)", fn, trunc(msg), aws.ToString(out.FunctionError))}, nil
	}
	var resp rotation.Response
	if err := json.Unmarshal(out.Payload, &resp); err != nil {
		return rotation.Result{}, fmt.Errorf("read %s response: %w", fn, err)
	}
	for _, list := range [][]rotation.Result{resp.Summary.Rotated, resp.Summary.Failed} {
		if len(list) > 0 {
			return list[0], nil
		}
	}
	if resp.Summary.Superseded > 0 {
		return rotation.Result{Target: t.Name, Outcome: rotation.Superseded, Reason: "another invocation rotated first"}, nil
	}
	return rotation.Result{Target: t.Name, Outcome: rotation.Fresh, Reason: "the rotator found the secret fresh"}, nil
}

// EngineRotator rotates in-process, for the local stack and tests that
// exercise the reactor without a deployed rotator.
type EngineRotator struct{ Engine *rotation.Engine }

// Rotate forces a rotation through the engine.
func (r EngineRotator) Rotate(ctx context.Context, t config.Target, reason string) (rotation.Result, error) {
	return r.Engine.Rotate(ctx, t, rotation.Request{Force: true, Why: reason, Cause: events.CauseExpiredTokenReport}), nil
}
