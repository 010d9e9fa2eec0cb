package localstack

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/stsrotator/stsrotator/internal/mototest"
	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/revocation"
)

// RevokeResult is what the scripted revoke did.
type RevokeResult struct {
	Target string
	// Output is revoke's stdout; Policy the document read back from IAM.
	Output, Policy string
	// Cleanup is --cleanup's refusal (stderr), run right after.
	Cleanup string
	// Check is the status --revocations command line the narration
	// prints, runnable as printed; CheckOutput what it printed when the
	// script ran it.
	Check, CheckOutput string
	// Skipped says why the step did not run (moto could not start).
	Skipped string
}

// Revoke runs `stsrotator revoke` for a target the way an operator
// would. kumo answers sts:GetCallerIdentity as its own root account
// (000000000000) whatever the credentials, so it cannot stand for the
// target role's account; the step points the CLI's IAM and STS calls at
// moto (AWS_ENDPOINT_URL_IAM / _STS), whose default account is the example
// config's 123456789012, and leaves the rotator on kumo. moto stores the
// inline policy but does not enforce it (docs/local.md).
//
// avoid names a target the rest of the script needs untouched (its stale-
// consumer step relies on AWSPREVIOUS, which one more version would move).
func (n *Narrator) Revoke(ctx context.Context, avoid string) (RevokeResult, error) {
	s := n.Stack
	var res RevokeResult
	t, ok := revocable(s.Config, avoid)
	if !ok {
		res.Skipped = "no target's role is in moto's account " + mototest.Account
		n.Say("revoke: skipped (%s)", res.Skipped)
		return res, nil
	}
	res.Target = t.Name
	m, err := mototest.Launch(ctx)
	if err != nil {
		res.Skipped = "moto, which stands in for the target account's IAM, did not start: " + err.Error()
		n.Say("revoke: skipped (%s; %s)", res.Skipped, mototest.InstallHint)
		return res, nil
	}
	// moto runs until the stack stops, so the check line narrated below
	// keeps working from another shell while make local runs.
	s.closers = append(s.closers, m.Close)
	role := t.RoleArn[strings.LastIndex(t.RoleArn, "/")+1:]
	api := iam.NewFromConfig(m.Config(""))
	if _, err := api.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(role), MaxSessionDuration: aws.Int32(3600),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + mototest.Account + `:root"},"Action":"sts:AssumeRole"}]}`)}); err != nil {
		return res, fmt.Errorf("create %s in moto: %w", role, err)
	}
	env := []string{"AWS_ENDPOINT_URL_IAM=" + m.URL, "AWS_ENDPOINT_URL_STS=" + m.URL}
	n.Say("%s's key leaked; the operator revokes its sessions and gets new credentials:", t.Name)
	// No --config or --function: the CLI finds the target's rotator from
	// the config the client environment names, as it would from a shell.
	args := []string{"revoke", "--target", t.Name, "--yes"}
	n.Say("  $ stsrotator %s", shellArgs(args))
	out, stderr, err := s.cliEnv(ctx, env, args...)
	res.Output = out
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		fmt.Fprintf(n.Out, "    │ %s\n", line)
	}
	if err != nil {
		return res, fmt.Errorf("revoke: %v: %s", err, stderr)
	}
	got, err := api.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String(revocation.PolicyName(t.Name))})
	if err != nil {
		return res, fmt.Errorf("read the revocation back: %w", err)
	}
	rev, err := revocation.Parse(revocation.PolicyName(t.Name), aws.ToString(got.PolicyDocument))
	if err != nil {
		return res, err
	}
	res.Policy = revocation.Document(rev.Scope, rev.Cutoff)
	n.Say("IAM (moto) now holds %s on %s: %s issued before %s are denied", revocation.PolicyName(t.Name), role, rev.Scope, rev.Cutoff.Format(time.RFC3339))
	// revoke's own Check line names the command; here it is with what
	// reaches moto (the role's IAM) on top of the stack's client
	// environment (the secret, in kumo), which make local prints as the
	// export line to paste first. The script runs it exactly so.
	res.Check = strings.Join(env, " ") + " stsrotator status --target " + t.Name + " --revocations"
	if n.Stack.opts.Once {
		n.Say("check the revocation (moto stands in for the role's account until the demo ends):")
	} else {
		n.Say("check the revocation (in a shell with the stack's export line, printed at the end; moto, standing in for the role's account, runs until make local stops):")
	}
	n.Say("  $ %s", res.Check)
	checkOut, err := s.Shell(ctx, res.Check)
	res.CheckOutput = checkOut
	for _, line := range strings.Split(strings.TrimRight(res.CheckOutput, "\n"), "\n") {
		fmt.Fprintf(n.Out, "    │ %s\n", line)
	}
	if err != nil {
		return res, fmt.Errorf("the narrated check %q failed: %w", res.Check, err)
	}
	_, res.Cleanup, err = s.cliEnv(ctx, env, "revoke", "--target", t.Name, "--cleanup")
	n.Say("  $ stsrotator revoke --target %s --cleanup", t.Name)
	n.Say("    %s", strings.TrimSpace(res.Cleanup))
	if code := exitCode(err); code != 10 {
		return res, fmt.Errorf("revoke --cleanup right after the revocation exited %d, want 10 (refused): %s", code, res.Cleanup)
	}
	return res, nil
}

// revocable picks a target whose role is in moto's default account.
func revocable(cfg *config.Config, avoid string) (config.Target, bool) {
	for _, t := range cfg.Targets {
		if t.Name != avoid && strings.Contains(t.RoleArn, ":"+mototest.Account+":role/") {
			return t, true
		}
	}
	return config.Target{}, false
}

// Shell runs line with sh, from an empty directory, in a shell that has
// pasted the stack's lines (the ClientEnv export and `stsrotator` naming
// the built CLI): what a user does in another shell with a line the
// narration prints.
func (s *Stack) Shell(ctx context.Context, line string) (string, error) {
	dir, err := os.MkdirTemp("", "stsrotator-shell-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	cmd := exec.CommandContext(ctx, "sh", "-c", "stsrotator() { \"$STSROTATOR_LOCAL_CLI\" \"$@\"; }\n"+line)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), s.ClientEnv()...), "STSROTATOR_LOCAL_CLI="+s.cli)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// cliEnv is CLI with extra environment (later keys win).
func (s *Stack) cliEnv(ctx context.Context, extra []string, args ...string) (stdout, stderr string, err error) {
	cmd := exec.CommandContext(ctx, s.cli, args...)
	cmd.Env = append(append(os.Environ(), s.ClientEnv()...), extra...)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}
