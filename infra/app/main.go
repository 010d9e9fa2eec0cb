package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/stsrotator/stsrotator/infra/asset"
	"github.com/stsrotator/stsrotator/infra/plan"
	"github.com/stsrotator/stsrotator/infra/quotacheck"
	"github.com/stsrotator/stsrotator/infra/stack"
	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/lambdaenv"
)

// Context keys a user sets with `cdk synth -c key=value`.
const (
	ContextConfig    = "config"
	ContextStackName = "stackName"
	// DefaultStackName is the root stack's name when none is given.
	DefaultStackName = plan.DefaultStackName
	// StackID is the root stack's construct ID and cloud-assembly artifact.
	StackID = "Stsrotator"
	// RotatorBinary is what `make build` produces for the rotator,
	// relative to the repository root.
	RotatorBinary = "dist/rotator/bootstrap"
	// ReactorBinary and LogWatchBinary are the other two functions.
	ReactorBinary  = "dist/reactor/bootstrap"
	LogWatchBinary = "dist/logwatch/bootstrap"
)

func main() {
	err := run()
	jsii.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run() error {
	app := awscdk.NewApp(nil)
	root, err := repoRoot()
	if err != nil {
		return err
	}
	cfgPath := config.DefaultPath
	if v, ok := app.Node().TryGetContext(jsii.String(ContextConfig)).(string); ok && v != "" {
		cfgPath = v
	}
	stackName := DefaultStackName
	if v, ok := app.Node().TryGetContext(jsii.String(ContextStackName)).(string); ok && v != "" {
		stackName = v
	}
	if err := checkStackName(stackName); err != nil {
		return err
	}
	// Messages name the path as the user wrote it; reading resolves it
	// against the repository root, where cdk.json is.
	readPath := cfgPath
	if !filepath.IsAbs(readPath) {
		readPath = filepath.Join(root, readPath)
	}
	data, err := os.ReadFile(readPath)
	if err != nil {
		return fmt.Errorf("read config %s: %w (fix: create it, or pass the right path with -c %s=path/to.yaml)", cfgPath, err, ContextConfig)
	}
	// The same checks `stsrotator validate` runs, so a config it accepts
	// is one synth accepts.
	// An environment-agnostic stack deploys to the region the CDK CLI
	// resolved and passes as CDK_DEFAULT_REGION, so that one comes first.
	// Unknown (a bare synth), the template's rule checks at deploy.
	p, err := plan.LoadIn(cfgPath, data, plan.StackRegionFromEnv(plan.EnvCDKRegion, os.Getenv(plan.EnvCDKRegion), os.Getenv))
	if err != nil {
		return err
	}
	stage, err := os.MkdirTemp("", "stsrotator-code-")
	if err != nil {
		return fmt.Errorf("stage the function package: %w", err)
	}
	// CDK copies the asset into the cloud assembly while the function is
	// defined, so the staging directory is only needed until synth ends.
	defer os.RemoveAll(stage)
	code := filepath.Join(stage, "rotator")
	if err := asset.Stage(code, filepath.Join(root, RotatorBinary), p.Files()); err != nil {
		return err
	}
	svc, err := stack.New(app, StackID, stack.Props{StackName: stackName, Plan: p, CodeDir: code, WorkDir: stage})
	if err != nil {
		return err
	}
	// The reactor's package carries the routes from target to rotator,
	// known only once the lanes are laid out.
	routes, err := json.Marshal(svc.Routes())
	if err != nil {
		return fmt.Errorf("encode %s: %w", lambdaenv.RoutesFile, err)
	}
	reactorCode := filepath.Join(stage, "reactor")
	if err := asset.Stage(reactorCode, filepath.Join(root, ReactorBinary), map[string][]byte{lambdaenv.ConfigFile: data, lambdaenv.RoutesFile: routes}); err != nil {
		return err
	}
	reactor := svc.AddReactor(reactorCode)
	logwatchCode := filepath.Join(stage, "logwatch")
	if err := asset.Stage(logwatchCode, filepath.Join(root, LogWatchBinary), map[string][]byte{lambdaenv.ConfigFile: data}); err != nil {
		return err
	}
	svc.AddLogWatch(reactor, logwatchCode)
	replicaKeys := svc.AddReplicaKeys(app)
	stack.NagService(svc)
	for _, st := range replicaKeys {
		stack.Nag(st)
	}
	app.Synth(nil)
	return check(*app.Outdir())
}

// checkStackName refuses names CloudFormation or Lambda would reject
// later, at deploy time, in a less helpful way.
func checkStackName(name string) error {
	if err := plan.CheckStackName(name); err != nil {
		return fmt.Errorf("-c %s=%q: %w", ContextStackName, name, err)
	}
	return nil
}

// check fails the synth on error annotations (unsuppressed cdk-nag
// findings, CDK validation errors), then on any AWS quota the templates
// would cross at deploy (shared/quotas, measured by infra/quotacheck). It
// reads the cloud assembly on disk, where CDK also records the
// annotations of nested stacks on the top-level stack's artifact, so
// nothing escapes.
func check(outdir string) error {
	errs, err := assemblyErrors(outdir)
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		return fmt.Errorf("synth found %d error(s):\n  %s", len(errs), strings.Join(errs, "\n  "))
	}
	ts, err := quotacheck.Load(outdir)
	if err != nil {
		return err
	}
	if over := quotacheck.Check(ts); len(over) > 0 {
		lines := make([]string, len(over))
		for i, e := range over {
			lines[i] = e.Error()
		}
		return fmt.Errorf("the templates would cross %d AWS quota(s) at deploy (docs/quotas.md):\n  %s", len(over), strings.Join(lines, "\n  "))
	}
	return nil
}

type metadataEntry struct {
	Type string `json:"type"`
	Data any    `json:"data"`
}

// assemblyErrors lists every error metadata entry of every artifact in the
// cloud assembly at outdir, as "construct path: message".
func assemblyErrors(outdir string) ([]string, error) {
	var manifest struct {
		Artifacts map[string]struct {
			Metadata               map[string][]metadataEntry `json:"metadata"`
			AdditionalMetadataFile string                     `json:"additionalMetadataFile"`
		} `json:"artifacts"`
	}
	if err := quotacheck.ReadJSON(filepath.Join(outdir, "manifest.json"), &manifest); err != nil {
		return nil, err
	}
	var errs []string
	collect := func(md map[string][]metadataEntry) {
		for path, entries := range md {
			for _, e := range entries {
				if e.Type == "aws:cdk:error" {
					errs = append(errs, fmt.Sprintf("%s: %v", path, e.Data))
				}
			}
		}
	}
	for _, a := range manifest.Artifacts {
		collect(a.Metadata)
		if a.AdditionalMetadataFile != "" {
			md := map[string][]metadataEntry{}
			if err := quotacheck.ReadJSON(filepath.Join(outdir, a.AdditionalMetadataFile), &md); err != nil {
				return nil, err
			}
			collect(md)
		}
	}
	sort.Strings(errs)
	return errs, nil
}

// repoRoot is the nearest directory, from the working directory up, that
// holds cdk.json: the CDK CLI runs the app there, and `go test` runs it
// from a package directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find the repository root: %w", err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "cdk.json")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", errors.New("find the repository root: no cdk.json in " + dir + " or above (fix: run from the repository)")
		}
	}
}
