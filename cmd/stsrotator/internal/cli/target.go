package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/credprovider"
	"github.com/stsrotator/stsrotator/shared/lambdaenv"
)

const defaultConfig = config.DefaultPath

// envConfig names the config file when --config does not; the functions
// read the same variable.
const envConfig = lambdaenv.ConfigPath

// cliClock is the CLI's time: the wall clock, or on an emulator with
// lambdaenv.DevClockFile set (make local's export line), the functions'
// moved clock, so status counts LEFT and ISSUED on the clock that wrote
// the versions instead of showing a 45-minute session with 1h25m left.
func cliClock() func() time.Time { return lambdaenv.Clock() }

// ref names one target's secret.
type ref struct {
	// Target is the config name; empty when only a secret ID was given.
	Target   string
	SecretID string
	RoleArn  string
	// note says how the secret was chosen when that may surprise, for the
	// not-found message.
	note string
	// Orphan names the config that no longer declares this managed
	// secret; empty for a declared one.
	Orphan string
	// Replicas are the regions the config replicates the secret to.
	Replicas []string
}

// loadConfig returns the config named by --config, else ./stsrotator.yaml
// if it exists, else nil: without a config every target's secret has the
// default name.
func (a *App) loadConfig(g Globals) (*config.Config, error) {
	path := g.Config
	if path == "" {
		// What `make local` exports, so the commands it prints run from
		// any directory.
		path = a.Getenv(envConfig)
	}
	if path == "" {
		if _, err := a.Stat(defaultConfig); errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		path = defaultConfig
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, coded(ExitUsage, err)
	}
	return cfg, nil
}

// resolve turns --target or --secret-id into the secret to read.
func (a *App) resolve(g Globals, target, secretID string) (ref, error) {
	switch {
	case target == "" && secretID == "":
		return ref{}, coded(ExitUsage, errors.New("name a target with --target NAME, or a secret with --secret-id ID"))
	case target != "" && secretID != "":
		return ref{}, coded(ExitUsage, errors.New("--target and --secret-id both name the secret; give one"))
	case secretID != "":
		return ref{SecretID: secretID}, nil
	}
	cfg, err := a.loadConfig(g)
	if err != nil {
		return ref{}, err
	}
	if cfg == nil {
		return ref{Target: target, SecretID: credprovider.SecretName(target)}, nil
	}
	t, ok := cfg.Target(target)
	switch {
	case !ok && g.Config == "":
		// A stsrotator.yaml that happens to be in the working directory
		// (another project's, a checkout of this one) must not break a
		// credential_process line run from there: the target's secret
		// has its default name, as with no config at all, and the
		// not-found message says which file was read and how to avoid it.
		def := credprovider.SecretName(target)
		return ref{Target: target, SecretID: def, note: fmt.Sprintf(
			"target %q is not declared in %s, the config found in the working directory (declared: %s), so its default secret %s was read (fix: pass --config with the file that declares it, or --secret-id with the secret's ARN)",
			target, cfg.File, strings.Join(cfg.Names(), ", "), def)}, nil
	case !ok:
		return ref{}, coded(ExitNotFound, fmt.Errorf("target %q is not declared in %s (declared: %s)", target, cfg.File, strings.Join(cfg.Names(), ", ")))
	}
	return ref{Target: t.Name, SecretID: t.SecretName, RoleArn: t.RoleArn}, nil
}
