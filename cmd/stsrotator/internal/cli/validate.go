package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/stsrotator/stsrotator/infra/plan"
	"github.com/stsrotator/stsrotator/shared/config"
)

func (a *App) validate(_ context.Context, args []string) error {
	var stackName string
	f := a.flags("validate", "[--config FILE] [--stack NAME]", `
Runs every check cdk synth runs on the config (the same code: its fields,
durations, AWS name rules, and the stack's capacity and policy-size
limits, such as the readers a secret's resource policy and the default
bus's policy can hold), with synth's own messages; synth then also
measures the templates it writes (docs/quotas.md names the few limits
only that can see). No synth, AWS credentials or network (--profile and
--endpoint-url are accepted, as by every command, and unused; --region only
names the stack's region, below). Prints each problem
with its file, line, field and fix, and exits 0 only when the config is
valid (2 otherwise). With --region (or AWS_REGION, CDK_DEFAULT_REGION) it
also checks the config against the region the stack will be deployed to:
no replicaRegions entry may be that region.

  stsrotator validate                       # ./stsrotator.yaml
  stsrotator validate --config prod.yaml --stack stsrotator-prod`)
	f.Lookup("profile").Usage = "unused: validate makes no AWS call (accepted like every command's `profile`)"
	f.Lookup("endpoint-url").Usage = "unused: validate makes no AWS call (accepted like every command's `url`)"
	f.Lookup("region").Usage = "the `region` the stack will be deployed to, to check replicaRegions against (default: AWS_REGION, else CDK_DEFAULT_REGION); no AWS call"
	f.StringVar(&stackName, "stack", plan.DefaultStackName, "the `name` the stack will be deployed as (cdk -c stackName)")
	pos, err := a.parse(f, args)
	if err != nil {
		return err
	}
	if err := noArgs(f, pos); err != nil {
		return err
	}
	path := f.g.Config
	if path == "" {
		if _, err := a.Stat(defaultConfig); errors.Is(err, fs.ErrNotExist) {
			return coded(ExitUsage, fmt.Errorf("no %s in the working directory (fix: pass --config FILE)", defaultConfig))
		}
		path = defaultConfig
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return coded(ExitUsage, fmt.Errorf("read config: %w (fix: pass the right path with --config)", err))
	}
	var problems []error
	if err := plan.CheckStackName(stackName); err != nil {
		problems = append(problems, fmt.Errorf("--stack %q: %w", stackName, err))
	}
	p, err := plan.LoadIn(path, data, plan.StackRegionFromEnv("--region", f.g.Region, a.Getenv))
	var fes config.Errors
	switch {
	case errors.As(err, &fes):
		for _, fe := range fes {
			problems = append(problems, fe)
		}
	case err != nil:
		problems = append(problems, err)
	default:
		// Default session names are the stack's: two targets may share
		// one only in a stack of another name.
		if errors.As(p.Config.InStack(stackName), &fes) {
			for _, fe := range fes {
				problems = append(problems, fe)
			}
		}
	}
	if len(problems) > 0 {
		// One problem a line, so a config is fixed in one round trip; the
		// summary is Run's one error line.
		for _, pr := range problems {
			fmt.Fprintln(a.Stderr, oneLine(pr.Error()))
		}
		return coded(ExitUsage, fmt.Errorf("%s is not valid: %d problem%s", path, len(problems), plural(len(problems))))
	}
	lanes := len(p.Lanes())
	_, err = fmt.Fprintf(a.Stdout, "%s is valid: %d target%s in %d rotator lane%s across %d nested stack%s (stack %s)\n",
		path, len(p.Config.Targets), plural(len(p.Config.Targets)), lanes, plural(lanes), len(p.Shards), plural(len(p.Shards)), stackName)
	return err
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
