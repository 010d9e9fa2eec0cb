package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/stsrotator/stsrotator/cmd/stsrotator/internal/preflight"
	"github.com/stsrotator/stsrotator/infra/plan"
)

// PreflightClients builds the read-only clients preflight uses.
func PreflightClients(cfg aws.Config) preflight.Clients {
	return preflight.Clients{
		STS:            sts.NewFromConfig(cfg),
		Logs:           cloudwatchlogs.NewFromConfig(cfg),
		IAM:            iam.NewFromConfig(cfg),
		Lambda:         lambda.NewFromConfig(cfg),
		CloudFormation: cloudformation.NewFromConfig(cfg),
		Secrets:        secretsmanager.NewFromConfig(cfg),
	}
}

func (a *App) preflight(ctx context.Context, args []string) error {
	var asJSON bool
	var stackName, toolkit string
	fs := a.flags("preflight", "[--config FILE] [--stack NAME] [--toolkit-stack-name NAME] [--json]", `
Checks the account of your AWS credentials, with read-only calls, for what
the stack assumes but cannot create, before a cdk deploy: the CDK bootstrap
stack, Lambda concurrency headroom, each logGroups entry (exists, with a
free subscription-filter slot), each reader role or user (exists), each
target role's trust policy (lets exactly its rotator role assume it, never
a path pattern or the account root alone: stsrotator trust prints it), and each
secret name (free, or already this stack's: a retained orphan blocks). Principals
in other accounts are reported as "cannot check from here" (SKIP).

Prints one line per finding, blocking ones first, each with its fix.
Exits 0 when nothing blocks the deploy (SKIP and WARN lines may remain),
8 when something does (BLOCK), 1 when a check could not run (ERROR, e.g.
access denied) and nothing blocks, 2 on usage or config errors.`)
	fs.StringVar(&stackName, "stack", plan.DefaultStackName, "the stack `name` you will deploy (cdk -c stackName)")
	fs.StringVar(&toolkit, "toolkit-stack-name", preflight.DefaultToolkitStackName, "the CDK bootstrap stack's `name` (cdk --toolkit-stack-name)")
	fs.BoolVar(&asJSON, "json", false, "print the findings as JSON")
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if err := noArgs(fs, pos); err != nil {
		return err
	}
	conf, err := a.loadConfig(fs.g)
	if err != nil {
		return err
	}
	if conf == nil {
		return coded(ExitUsage, errors.New("no config to check: pass --config, or run where "+defaultConfig+" is"))
	}
	// Trust checks compare session names, which depend on the stack.
	if err := conf.InStack(stackName); err != nil {
		return coded(ExitUsage, err)
	}
	src, err := os.ReadFile(conf.File)
	if err != nil {
		return coded(ExitUsage, fmt.Errorf("read config %s: %w", conf.File, err))
	}
	p, err := plan.New(conf, src)
	if err != nil {
		return coded(ExitUsage, err)
	}
	cfg, err := a.LoadAWS(ctx, fs.g)
	if err != nil {
		return err
	}
	findings := preflight.Run(ctx, a.PreflightClients(cfg), preflight.Input{
		Config: conf, StackName: stackName, ToolkitStackName: toolkit,
		Functions: p.Functions(), Reserved: plan.ReactorReservedConcurrency, Roles: p.Roles(),
	})
	if asJSON {
		if err := writeJSONValue(a.Stdout, findings); err != nil {
			return err
		}
	} else {
		for _, f := range findings {
			fmt.Fprintln(a.Stdout, f.String())
		}
	}
	count := map[preflight.Level]int{}
	for _, f := range findings {
		count[f.Level]++
	}
	summary := fmt.Sprintf("%d checks: %d block, %d could not run, %d warn, %d cannot check from here, %d ok",
		len(findings), count[preflight.Block], count[preflight.Error], count[preflight.Warn], count[preflight.Skip], count[preflight.OK])
	switch preflight.Worst(findings) {
	case preflight.Block:
		return coded(ExitBlocked, errors.New(summary+"; fix the BLOCK lines before cdk deploy"))
	case preflight.Error:
		return coded(ExitFailure, errors.New(summary+"; fix the ERROR lines' access and run again"))
	}
	if !asJSON {
		fmt.Fprintln(a.Stdout, "preflight: "+summary+"; nothing blocks the deploy")
	}
	return nil
}

func writeJSONValue(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
