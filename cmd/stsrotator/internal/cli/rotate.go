package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/stsrotator/stsrotator/infra/plan"
	"github.com/stsrotator/stsrotator/shared/events"
	"github.com/stsrotator/stsrotator/shared/humantime"
	"github.com/stsrotator/stsrotator/shared/lambdaenv"
	"github.com/stsrotator/stsrotator/shared/rotation"
)

// invoker is the one Lambda call rotate makes.
type invoker interface {
	Invoke(context.Context, *lambda.InvokeInput, ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

// functionError is Lambda's payload for a failed invocation.
type functionError struct {
	ErrorMessage string `json:"errorMessage"`
	ErrorType    string `json:"errorType"`
}

func (a *App) rotate(ctx context.Context, args []string) error {
	var target, function, stackName string
	var asJSON bool
	fs := a.flags("rotate", "--target NAME [--function NAME | --stack NAME] [--json]", `
Asks the deployed rotator to replace the target's credentials now, before
they are due, and reports the result: the new masked key, its expiry and
the secret version. rotate NAME is the same as rotate --target NAME.

The rotator still holds the write back, and rotate exits 13 saying when
to try again, while the current credentials are valid and were written
less than 10 minutes ago (AWS advises at most one write per secret per
10 minutes), or while Secrets Manager's version quota is used up; the
current credentials stand. Expired or unusable credentials are replaced
at once; to cut off leaked ones sooner, use stsrotator revoke, whose
rotation the 10-minute guard does not hold back. Exits 6 if the service
could not rotate the target.

The rotator serving the target is found from the config (--config, or
./stsrotator.yaml) and the stack name, as the stack names it; --function
overrides that.`)
	fs.profileFor("invoke the rotator function")
	fs.targetArg = true
	fs.StringVar(&target, "target", "", "config target `name` (or give it as the argument)")
	fs.StringVar(&function, "function", "", "rotator Lambda `name or ARN` (default: $"+lambdaenv.RotatorFunction+", else found from the config)")
	fs.StringVar(&stackName, "stack", plan.DefaultStackName, "the deployed stack's `name` (cdk -c stackName)")
	fs.BoolVar(&asJSON, "json", false, "print the rotator's JSON response")
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if target, err = oneTarget(fs, target, pos); err != nil {
		return err
	}
	if function == "" {
		function = a.Getenv(lambdaenv.RotatorFunction)
	}
	if function == "" {
		if function, err = a.rotatorOf(fs.g, stackName, target); err != nil {
			return err
		}
	}
	cfg, err := a.LoadAWS(ctx, fs.g)
	if err != nil {
		return err
	}
	return a.invokeRotate(ctx, lambda.NewFromConfig(cfg), function, target, asJSON)
}

// rotatorOf finds the function serving target the way the stack lays
// targets out: the same plan, from the same config.
func (a *App) rotatorOf(g Globals, stackName, target string) (string, error) {
	cfg, err := a.loadConfig(g)
	if err != nil {
		return "", err
	}
	if cfg == nil {
		return "", coded(ExitUsage, fmt.Errorf("no config to find the rotator of %q in: pass --config, run where stsrotator.yaml is, or name it with --function", target))
	}
	src, err := os.ReadFile(cfg.File)
	if err != nil {
		return "", err
	}
	p, err := plan.New(cfg, src)
	if err != nil {
		return "", err
	}
	fn, ok := p.FunctionFor(stackName, target)
	if !ok {
		return "", coded(ExitNotFound, fmt.Errorf("target %q is not in %s; valid targets: %s", target, cfg.File, strings.Join(cfg.Names(), ", ")))
	}
	return fn, nil
}

func (a *App) invokeRotate(ctx context.Context, api invoker, function, target string, asJSON bool) error {
	start := a.Now()
	resp, payload, err := a.callRotator(ctx, api, function, rotation.Invocation{Target: target, Force: true, Reason: a.askedBy("rotate"), Why: events.CauseForced})
	if err != nil {
		return err
	}
	if asJSON {
		if _, err := fmt.Fprintf(a.Stdout, "%s\n", payload); err != nil {
			return err
		}
	}
	took := time.Duration(resp.DurationMs) * time.Millisecond
	if took == 0 {
		took = a.Now().Sub(start)
	}
	s := resp.Summary
	for _, r := range s.Rotated {
		if !asJSON {
			fmt.Fprintf(a.Stdout, "%s: %s, new key %s, expires %s (%s), version %s, in %s\n",
				r.Target, r.Outcome, dash(r.Key), stamp(r.Expires), humantime.Remaining(time.Duration(r.LeftSec)*time.Second), dash(r.VersionID), took.Round(time.Millisecond))
		}
	}
	if !asJSON && s.Superseded > 0 {
		fmt.Fprintf(a.Stdout, "%s: another rotation replaced the version first; its credentials stand\n", target)
	}
	if len(s.Failed) > 0 {
		r := s.Failed[0]
		return coded(ExitRotationFailed, fmt.Errorf("%s: rotation failed: %s", r.Target, r.Reason))
	}
	if err := heldBack(s, target, a.wallNow().Sub(a.Now()).Round(time.Second)); err != nil {
		return err
	}
	if len(s.Rotated)+s.Superseded+s.Fresh == 0 {
		return coded(ExitRotationFailed, fmt.Errorf("%s: the rotator reported no result for the target (mode %q)", target, resp.Mode))
	}
	return nil
}

// heldBack is the refusal a forced rotation the rotator held back exits
// with: the reason, and when a rotation will be allowed. The rotator
// says when on its own clock, which under make local's dev clock runs
// ahead of the user's; toWall is what to add to it to read it on the
// user's (App.Wall), zero when they are one clock.
func heldBack(s rotation.Summary, target string, toWall time.Duration) error {
	retry := func(at time.Time) string {
		return fmt.Sprintf("run stsrotator rotate --target %s again at %s or later; the current credentials stand until then, and if they leaked, stsrotator revoke --target %s replaces them now", target, at.Add(toWall).UTC().Format(time.RFC3339), target)
	}
	if len(s.Held) > 0 {
		r := s.Held[0]
		// The rotator's reason names the same time, on its clock.
		reason := r.Reason
		if toWall != 0 && !r.HeldUntil.IsZero() {
			reason = strings.ReplaceAll(reason, r.HeldUntil.UTC().Format(time.RFC3339), r.HeldUntil.Add(toWall).UTC().Format(time.RFC3339))
		}
		return coded(ExitNotRotated, fmt.Errorf("%s: not rotated: %s (fix: %s)", r.Target, reason, retry(r.HeldUntil)))
	}
	if len(s.Waiting) > 0 {
		r := s.Waiting[0]
		return coded(ExitNotRotated, fmt.Errorf("%s: not rotated: written less than 10 minutes ago and still valid: %s (fix: %s)", r.Target, r.Reason, retry(r.WriteAllowedAt)))
	}
	if s.Fresh > 0 {
		// A rotator deployed before it reported when writes are allowed
		// again: the only hold it has for a forced, valid version is AWS's
		// write-rate guidance.
		return coded(ExitNotRotated, fmt.Errorf("%s: not rotated: written less than 10 minutes ago and still valid (AWS advises at most one write per secret per 10 minutes) (fix: run stsrotator rotate --target %s again in 10 minutes; the current credentials stand until then, and if they leaked, stsrotator revoke --target %s replaces them now)", target, target, target))
	}
	return nil
}

// askedBy is the reason a command gives the rotator: who asked, from where.
func (a *App) askedBy(command string) string {
	host, _ := a.Hostname()
	return fmt.Sprintf("stsrotator %s by %s@%s", command, a.Username(), host)
}

// callRotator invokes the rotator synchronously with inv and returns its
// response and raw payload. A function error (the rotator refused the
// input or crashed) exits ExitRotationFailed.
func (a *App) callRotator(ctx context.Context, api invoker, function string, inv rotation.Invocation) (rotation.Response, []byte, error) {
	payload, err := json.Marshal(inv)
	if err != nil {
		return rotation.Response{}, nil, err
	}
	out, err := api.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(function), Payload: payload})
	if isCode(err, "ResourceNotFoundException") {
		// Lambda's 404 for a function that is not there
		// (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html#API_Invoke_Errors).
		return rotation.Response{}, nil, coded(ExitNotFound, fmt.Errorf("rotator function %s does not exist in this account and region (fix: deploy the stack with cdk deploy, or check --stack, --function and --region/--profile name where it was deployed)", function))
	}
	if err != nil {
		return rotation.Response{}, nil, fmt.Errorf("invoke rotator %s: %w", function, err)
	}
	if fe := aws.ToString(out.FunctionError); fe != "" {
		var e functionError
		_ = json.Unmarshal(out.Payload, &e)
		if e.ErrorMessage == "" {
			e.ErrorMessage = "no error message"
		}
		return rotation.Response{}, nil, coded(ExitRotationFailed, fmt.Errorf("rotator %s failed (%s): %s: %s", function, fe, dash(e.ErrorType), e.ErrorMessage))
	}
	var resp rotation.Response
	if err := json.Unmarshal(out.Payload, &resp); err != nil {
		return rotation.Response{}, nil, fmt.Errorf("rotator %s answered something other than its response: %w", function, err)
	}
	return resp, out.Payload, nil
}
