package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/stsrotator/stsrotator/infra/plan"
	"github.com/stsrotator/stsrotator/shared/config"
)

var reAccountID = regexp.MustCompile(`^\d{12}$`)

// trust prints the exact trust a target role needs: the statement
// plan.TrustStatement builds, for the stack's account (--account, else the
// account of the caller's credentials).
func (a *App) trust(ctx context.Context, args []string) error {
	var target, account, partition, stackName, format, out string
	var all bool
	fs := a.flags("trust", "(--target NAME | --all) [--account ID] [--stack NAME] [--format json|cloudformation] [--out DIR]", `
Prints the trust policy a target's role needs so that exactly its rotator
may assume it: the account that runs stsrotator as Principal, narrowed by
ArnEquals aws:PrincipalArn to the one rotator role of the target's shard
(<stack>-ShardNNN-rotator, a fixed name: a target's shard is a hash of
its name), or for sourceCredentials: iam-user to the stack's source user
(<stack>-source). sts:AssumeRole, plus sts:TagSession only with session
tags and sts:SetSourceIdentity only with a source identity, and the
target's sts:ExternalId when it has one. Never an IAM path wildcard.

--all --format cloudformation writes one CloudFormation template per
account that holds target roles (DIR/<account>.template.json), declaring
those roles with exactly this trust: deploy each to its account, e.g.
with a CloudFormation StackSet (docs/infra.md#target-roles).`)
	fs.StringVar(&target, "target", "", "the target `name` whose role's trust to print")
	fs.BoolVar(&all, "all", false, "every target of the config")
	fs.StringVar(&account, "account", "", "the `ID` of the account the stack is deployed in (default: the account of your AWS credentials)")
	fs.StringVar(&partition, "partition", "aws", "the AWS `partition` of that account")
	fs.StringVar(&stackName, "stack", plan.DefaultStackName, "the stack `name` you deploy (cdk -c stackName)")
	fs.StringVar(&format, "format", "json", "`json` (trust policy documents) or cloudformation (with --all: one template per account)")
	fs.StringVar(&out, "out", "", "with --all --format cloudformation: the `dir`ectory to write the templates to")
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if err := noArgs(fs, pos); err != nil {
		return err
	}
	switch {
	case all == (target != ""):
		return coded(ExitUsage, errors.New("name one target with --target NAME, or every target with --all"))
	case format != "json" && format != "cloudformation":
		return coded(ExitUsage, fmt.Errorf("--format %q: use json or cloudformation", format))
	case format == "cloudformation" && !all:
		return coded(ExitUsage, errors.New("--format cloudformation writes one template per account for every target: add --all"))
	case format == "cloudformation" && out == "":
		return coded(ExitUsage, errors.New("--format cloudformation writes one file per account: name the directory with --out DIR"))
	case account != "" && !reAccountID.MatchString(account):
		return coded(ExitUsage, fmt.Errorf("--account %q: an AWS account ID is 12 digits", account))
	}
	if err := plan.CheckStackName(stackName); err != nil {
		return coded(ExitUsage, fmt.Errorf("--stack %q: %w", stackName, err))
	}
	conf, err := a.loadConfig(fs.g)
	if err != nil {
		return err
	}
	if conf == nil {
		return coded(ExitUsage, errors.New("no config to read targets from: pass --config, or run where "+defaultConfig+" is"))
	}
	var ts []config.Target
	if all {
		ts = conf.Targets
	} else {
		t, ok := conf.Target(target)
		if !ok {
			return coded(ExitNotFound, fmt.Errorf("target %q is not declared in %s", target, conf.File))
		}
		ts = []config.Target{t}
	}
	if account == "" {
		if account, partition, err = a.callerAccount(ctx, fs.g); err != nil {
			return err
		}
	}
	if format == "cloudformation" {
		return a.writeTrustTemplates(plan.TrustTemplates(partition, account, stackName, conf), out)
	}
	if !all {
		return writeJSONValue(a.Stdout, plan.TrustPolicy(partition, account, stackName, ts[0].RoleArn, ts))
	}
	policies := map[string]any{}
	for _, t := range ts {
		policies[t.RoleArn] = plan.TrustPolicy(partition, account, stackName, t.RoleArn, ts)
	}
	return writeJSONValue(a.Stdout, policies)
}

// callerAccount is the account and partition of the caller's credentials
// (sts:GetCallerIdentity, which needs no permission).
func (a *App) callerAccount(ctx context.Context, g Globals) (string, string, error) {
	cfg, err := a.LoadAWS(ctx, g)
	if err != nil {
		// trust is offline with --account: say so before the region or
		// credentials a new user may not have set up yet.
		return "", "", fmt.Errorf("find the stack's account (or pass --account ID): %w", err)
	}
	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", "", fmt.Errorf("find the stack's account (sts:GetCallerIdentity; or pass --account): %w", err)
	}
	partition := "aws"
	if rest, ok := strings.CutPrefix(aws.ToString(id.Arn), "arn:"); ok {
		if p, _, ok := strings.Cut(rest, ":"); ok {
			partition = p
		}
	}
	return aws.ToString(id.Account), partition, nil
}

func (a *App) writeTrustTemplates(tpls map[string]map[string]any, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	accounts := make([]string, 0, len(tpls))
	for acct := range tpls {
		accounts = append(accounts, acct)
	}
	sort.Strings(accounts)
	for _, acct := range accounts {
		path := filepath.Join(dir, acct+".template.json")
		f, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		err = writeJSONValue(f, tpls[acct])
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		fmt.Fprintf(a.Stdout, "%s: %d target roles of account %s\n", path, len(tpls[acct]["Resources"].(map[string]any)), acct)
	}
	return nil
}
