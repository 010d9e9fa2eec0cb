package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/stsrotator/stsrotator/shared/config"
	"github.com/stsrotator/stsrotator/shared/suggest"
)

// Completion is spf13/cobra's: its bash, zsh and fish scripts and the
// hidden __complete command they call. The commands stay on the flag
// package; cobra sees a mirror of them built at run time from the
// command table and the flag set each command really declares (see
// spec), so a new command or flag completes without anything listed by
// hand.

// shells are the shells completion writes scripts for.
var shells = []string{"bash", "zsh", "fish"}

func (a *App) completion(_ context.Context, args []string) error {
	fs := a.flags("completion", "bash|zsh|fish", `
Prints the shell completion script for bash, zsh or fish. It completes
commands, each command's flags, and target names (--target, and rotate's
NAME) from the config: --config on the line, else ./stsrotator.yaml in the
working directory at the time you press Tab.

  source <(stsrotator completion bash)     # bash, e.g. in ~/.bashrc
  source <(stsrotator completion zsh)      # zsh, in ~/.zshrc after compinit
  stsrotator completion fish > ~/.config/fish/completions/stsrotator.fish`)
	fs.positional = shells
	fs.Lookup("profile").Usage = "unused: completion makes no AWS call (accepted like every command's `profile`)"
	fs.Lookup("region").Usage = "unused: completion makes no AWS call (accepted like every command's `region`)"
	fs.Lookup("endpoint-url").Usage = "unused: completion makes no AWS call (accepted like every command's `URL`)"
	fs.Lookup("config").Usage = "unused: the script reads the --config on the line being completed, else ./" + defaultConfig + " (accepted like every command's `file`)"
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return coded(ExitUsage, errors.New("name one shell: stsrotator completion bash|zsh|fish"))
	}
	root := a.commandTree()
	switch pos[0] {
	case "bash":
		return root.GenBashCompletionV2(a.Stdout, true)
	case "zsh":
		return root.GenZshCompletion(a.Stdout)
	case "fish":
		return root.GenFishCompletion(a.Stdout, true)
	}
	hint := ""
	if s := shellTypo(pos[0]); s != "" {
		hint = "; did you mean " + s + "?"
	}
	return coded(ExitUsage, fmt.Errorf("no completion for shell %q%s (the shells supported are bash, zsh and fish)", printable(pos[0]), hint))
}

// otherShells are shells completion has no script for. Shell names are
// three or four letters, so another shell is often within suggest's two
// edits of a supported one (tcsh of bash, ksh of zsh): naming one is a
// choice of shell, not a typo to correct.
var otherShells = []string{"sh", "ash", "dash", "ksh", "mksh", "pdksh", "csh", "tcsh", "yash", "posh", "rc", "es", "powershell", "pwsh", "nu", "nushell", "elvish", "xonsh", "oil", "osh", "ysh", "ion", "murex"}

// shellTypo is the supported shell name meant by name, or "": a path to
// one (completion $SHELL gives /bin/zsh), or one edit from one (bsah,
// zhs), the one sharing its first letter when it is one edit from two
// (bsh); never for another shell's name.
func shellTypo(name string) string {
	name = strings.ToLower(name)
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	if slices.Contains(otherShells, name) {
		return ""
	}
	var near []string
	for _, s := range shells {
		if suggest.Distance(name, s) <= 1 {
			near = append(near, s)
		}
	}
	if len(near) > 1 {
		// bsh is one edit from bash and from zsh: a first letter is
		// rarely the one mistyped.
		near = slices.DeleteFunc(near, func(s string) bool { return name == "" || s[0] != name[0] })
	}
	if len(near) != 1 {
		return ""
	}
	return near[0]
}

// complete answers the scripts' hidden __complete request (args[0] is
// cobra.ShellCompRequestCmd or its NoDesc twin).
func (a *App) complete(args []string) int {
	root := a.commandTree()
	root.SetArgs(args)
	root.SetOut(a.Stdout)
	root.SetErr(io.Discard)
	if err := root.Execute(); err != nil {
		return ExitUsage
	}
	return ExitOK
}

// spec is a command's flag set as the command declares it: run with
// --help while collecting, it stops in flags/parse before doing anything.
func (a *App) spec(c command) *flagSet {
	b := *a
	b.Stdout, b.Stderr = io.Discard, io.Discard
	var sets []*flagSet
	b.collecting = &sets
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = c.run(&b, ctx, []string{"--help"})
	if len(sets) == 0 {
		return nil
	}
	return sets[0]
}

// commandTree mirrors the command table for cobra's completion.
func (a *App) commandTree() *cobra.Command {
	root := &cobra.Command{
		Use:               "stsrotator",
		Short:             "uses the AWS credentials that stsrotator keeps fresh in Secrets Manager",
		SilenceErrors:     true,
		SilenceUsage:      true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	root.Flags().BoolP("version", "v", false, "print the build's version")
	for _, c := range commands() {
		fs := a.spec(c)
		cmd := &cobra.Command{Use: c.name, Short: c.summary, Run: func(*cobra.Command, []string) {}, ValidArgsFunction: cobra.NoFileCompletions}
		if fs != nil {
			mirrorFlags(cmd, fs)
		}
		root.AddCommand(cmd)
	}
	// cobra's own help command completes command names, as Run's help
	// takes them.
	root.InitDefaultHelpCmd()
	if h, _, err := root.Find([]string{"help"}); err == nil && h != root {
		h.Short = "print the command list, or a command's --help"
	}
	return root
}

// mirrorFlags declares fs's flags on cmd, with completions for the values
// the CLI can know: target names and config files.
func mirrorFlags(cmd *cobra.Command, fs *flagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		_, usage := flag.UnquoteUsage(f)
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			cmd.Flags().Bool(f.Name, false, usage)
			return
		}
		cmd.Flags().String(f.Name, "", usage)
		var values cobra.CompletionFunc
		switch f.Name {
		case "target":
			values = targetNames
		case "config":
			values = cobra.FixedCompletions([]string{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt)
		}
		if values != nil {
			_ = cmd.RegisterFlagCompletionFunc(f.Name, values)
		}
	})
	switch {
	case fs.positional != nil:
		cmd.ValidArgsFunction = func(_ *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return withPrefix(fs.positional, prefix), cobra.ShellCompDirectiveNoFileComp
		}
	case fs.targetArg:
		cmd.ValidArgsFunction = func(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 || cmd.Flags().Changed("target") {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return targetNames(cmd, args, prefix)
		}
	}
}

// targetNames are the targets the config on the command line (or
// ./stsrotator.yaml) declares, read leniently: a config with a mistake
// elsewhere still names its targets.
func targetNames(cmd *cobra.Command, _ []string, prefix string) ([]string, cobra.ShellCompDirective) {
	path, _ := cmd.Flags().GetString("config")
	if path == "" {
		path = defaultConfig
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return withPrefix(config.TargetNames(data), prefix), cobra.ShellCompDirectiveNoFileComp
}

func withPrefix(options []string, prefix string) []string {
	var out []string
	for _, o := range options {
		if strings.HasPrefix(o, prefix) && !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	return out
}
