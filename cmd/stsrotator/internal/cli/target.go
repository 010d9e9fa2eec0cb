package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/credprovider"
)

const defaultConfig = config.DefaultPath

// ref names one target's secret.
type ref struct {
	// Target is the config name; empty when only a secret ID was given.
	Target   string
	SecretID string
	RoleArn  string
}

// loadConfig returns the config named by --config, else ./stsrotator.yaml
// if it exists, else nil: without a config every target's secret has the
// default name.
func (a *App) loadConfig(g Globals) (*config.Config, error) {
	path := g.Config
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
	if !ok {
		return ref{}, coded(ExitNotFound, fmt.Errorf("target %q is not declared in %s (declared: %s)", target, cfg.File, strings.Join(cfg.Names(), ", ")))
	}
	return ref{Target: t.Name, SecretID: t.SecretName, RoleArn: t.RoleArn}, nil
}
