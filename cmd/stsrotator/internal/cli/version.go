package cli

import (
	"context"
	"fmt"
	"runtime/debug"
)

func (a *App) version(_ context.Context, args []string) error {
	fs := a.flags("version", "", "Prints the module version and the Go version it was built with.")
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if err := noArgs(fs, pos); err != nil {
		return err
	}
	v, goVersion := "(unknown)", "(unknown)"
	if bi, ok := debug.ReadBuildInfo(); ok {
		v, goVersion = bi.Main.Version, bi.GoVersion
	}
	_, err = fmt.Fprintf(a.Stdout, "stsrotator %s (%s)\n", v, goVersion)
	return err
}
