package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/spf13/cobra"
)

// completionConfig declares the targets the shells must offer.
const completionConfig = `targets:
  - name: billing-reader
    roleArn: arn:aws:iam::123456789012:role/BillingReadOnly
  - name: deploy-bot
    roleArn: arn:aws:iam::123456789012:role/DeployBot
    durationSeconds: 12   # a mistake: completion still names the targets
`

// completeIn runs the scripts' hidden request in dir, as the shells do.
func completeIn(t *testing.T, dir string, args ...string) []string {
	t.Helper()
	t.Chdir(dir)
	var out, errb bytes.Buffer
	if code := New(&out, &errb).Run(context.Background(), append([]string{cobra.ShellCompNoDescRequestCmd}, args...)); code != ExitOK {
		t.Fatalf("__complete %q: exit %d, stderr %q", args, code, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	return lines[:len(lines)-1] // the last line is cobra's directive
}

// Issue 20: completion offers every command in the table and every flag
// each command really declares, read from the command itself: a command
// or flag added later completes without a list kept by hand.
func TestCompletionFollowsTheCommandTable(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, defaultConfig), []byte(completionConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	top := completeIn(t, dir, "")
	for _, c := range commands() {
		if !slices.Contains(top, c.name) {
			t.Errorf("stsrotator <Tab> does not offer %s: %q", c.name, top)
		}
		fs := New(nil, nil).spec(c)
		if fs == nil {
			t.Errorf("%s declared no flag set through a.flags", c.name)
			continue
		}
		offered := completeIn(t, dir, c.name, "--")
		n := 0
		fs.VisitAll(func(f *flag.Flag) {
			n++
			if !slices.Contains(offered, "--"+f.Name) {
				t.Errorf("stsrotator %s --<Tab> does not offer --%s: %q", c.name, f.Name, offered)
			}
		})
		if n < 4 {
			t.Errorf("%s: read %d flags; every command has at least the 4 global ones", c.name, n)
		}
	}
	cases := []struct {
		why  string
		args []string
		want []string
	}{
		{"issue 21's typo completes to the command", []string{"sta"}, []string{"status"}},
		{"--target offers the targets of ./stsrotator.yaml, even with a mistake in it", []string{"env", "--target", ""}, []string{"billing-reader", "deploy-bot"}},
		{"a prefix narrows them", []string{"serve", "--target", "dep"}, []string{"deploy-bot"}},
		{"--config on the line is the config read", []string{"status", "--config", filepath.Join(dir, "none.yaml"), "--target", ""}, nil},
		{"rotate NAME is rotate --target NAME", []string{"rotate", ""}, []string{"billing-reader", "deploy-bot"}},
		{"so is revoke NAME", []string{"revoke", "b"}, []string{"billing-reader"}},
		{"once --target is given, rotate takes no NAME", []string{"rotate", "--target", "deploy-bot", ""}, nil},
		{"completion offers the shells", []string{"completion", ""}, []string{"bash", "zsh", "fish"}},
		{"a flag of one command is not offered for another", []string{"env", "--sta"}, nil},
		{"--version and -v are offered at the top", []string{"-"}, []string{"--help", "-h", "--version", "-v"}},
	}
	for _, c := range cases {
		if got := completeIn(t, dir, c.args...); fmt.Sprint(got) != fmt.Sprint(c.want) && !(len(got) == 0 && len(c.want) == 0) {
			t.Errorf("%s: __complete %q = %q, want %q", c.why, c.args, got, c.want)
		}
	}
}

// Issue 21's trial: `completion tcsh` answered "did you mean bash?". A
// shell completion has no script for is told which shells are
// supported, with no suggestion; only a typo of a supported name (or a
// path to one) gets a "did you mean".
func TestCompletionOfAnUnsupportedShellNamesTheSupportedOnes(t *testing.T) {
	cases := []struct {
		why, shell, hint string
	}{
		{"tcsh is two edits from bash but another shell", "tcsh", ""},
		{"ksh is one edit from zsh but another shell", "ksh", ""},
		{"sh is one edit from zsh but another shell", "sh", ""},
		{"powershell is a shell cobra could do but stsrotator does not offer", "powershell", ""},
		{"an unknown word two edits from fish is not a typo of it", "fizz", ""},
		{"one edit from zsh and from fish, fsh is the one with its first letter", "fsh", "fish"},
		{"a swapped pair of letters is a typo", "bsah", "bash"},
		{"a dropped letter is a typo", "fis", "fish"},
		{"$SHELL's path names the shell", "/usr/bin/zsh", "zsh"},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		code := New(&out, &errb).Run(context.Background(), []string{"completion", c.shell})
		msg := errb.String()
		if code != ExitUsage || out.Len() != 0 || !strings.Contains(msg, fmt.Sprintf("no completion for shell %q", c.shell)) || !strings.Contains(msg, "(the shells supported are bash, zsh and fish)") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit %d naming the supported shells", c.why, code, out.String(), msg, ExitUsage)
		}
		if got := strings.Contains(msg, "did you mean"); got != (c.hint != "") || c.hint != "" && !strings.Contains(msg, "did you mean "+c.hint+"?") {
			t.Errorf("%s: stderr %q, want did-you-mean %q", c.why, msg, c.hint)
		}
	}
}

// Reading a command's flags runs nothing of the command: no AWS config,
// no config file, no clock, no output.
func TestCompletionRunsNoCommand(t *testing.T) {
	var out, errb bytes.Buffer
	a := New(&out, &errb)
	a.LoadAWS = func(context.Context, Globals) (aws.Config, error) {
		t.Error("a command loaded its AWS configuration while completion read its flags")
		return aws.Config{}, errors.New("no")
	}
	a.Now = func() time.Time {
		t.Error("a command read the clock while completion read its flags")
		return time.Time{}
	}
	a.Stat = func(string) (os.FileInfo, error) {
		t.Error("a command looked for a config")
		return nil, os.ErrNotExist
	}
	a.Listen = func(string, string) (net.Listener, error) {
		t.Error("a command listened")
		return nil, errors.New("no")
	}
	a.Getenv = func(string) string { return "" }
	for _, c := range commands() {
		if a.spec(c) == nil {
			t.Errorf("%s: no flag set", c.name)
		}
	}
	if out.Len()+errb.Len() > 0 {
		t.Errorf("reading flags printed %q %q", out.String(), errb.String())
	}
}

// shellsFor builds the CLI as users install it, puts it on PATH as
// stsrotator, and writes the config the shells complete targets from in
// a working directory of their own.
func shellsFor(t *testing.T) (dir string, env []string) {
	t.Helper()
	bin := buildCLI(t)
	dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, defaultConfig), []byte(completionConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, []string{"PATH=" + filepath.Dir(bin) + string(os.PathListSeparator) + os.Getenv("PATH"), "HOME=" + dir, "TERM=xterm", "LANG=C.UTF-8"}
}

// needShell fails (not skips) when a shell the proof needs is missing:
// .ci/run installs them.
func needShell(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed (apt-get install -y %s; .ci/run installs it): the completion proof needs it", name, pkg)
	}
	return p
}

// The three completions each shell must make, from a unique prefix, so
// the shell inserts the one match.
var shellCases = []struct {
	why, line, want string
}{
	{"a command", "stsrotator sta", "stsrotator status"},
	{"a flag of that command", "stsrotator rotate --js", "stsrotator rotate --json"},
	{"a target name from ./stsrotator.yaml", "stsrotator rotate --target dep", "stsrotator rotate --target deploy-bot"},
}

// Issue 20: the bash script, loaded in a real bash with the
// bash-completion package it relies on, completes a command, a flag and
// a target name; driven as bash drives it, through COMP_WORDS/COMP_CWORD
// and the function `complete -p` names.
func TestCompletionInBash(t *testing.T) {
	bash := needShell(t, "bash", "bash")
	const lib = "/usr/share/bash-completion/bash_completion"
	if _, err := os.Stat(lib); err != nil {
		t.Fatalf("%s is missing (apt-get install -y bash-completion; .ci/run installs it): cobra's bash script needs it", lib)
	}
	dir, env := shellsFor(t)
	script := `source ` + lib + `
source <(stsrotator completion bash)
fn=$(complete -p stsrotator | sed -n 's/.* -F \([^ ]*\) .*/\1/p')
[ -n "$fn" ] || { echo "no completion function registered"; exit 1; }
for line in "$@"; do
	read -ra COMP_WORDS <<<"$line"
	COMP_CWORD=$((${#COMP_WORDS[@]}-1)); COMP_LINE=$line; COMP_POINT=${#line}; COMPREPLY=()
	"$fn" stsrotator "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}" 2>/dev/null
	echo "$line => ${COMPREPLY[*]}"
done
`
	shellCompletes(t, dir, env, bash, "--norc", "--noprofile", "-c", script, "bash")
}

// Issue 20: fish's own completion query (complete -C) with the fish
// script loaded.
func TestCompletionInFish(t *testing.T) {
	fish := needShell(t, "fish", "fish")
	dir, env := shellsFor(t)
	script := "stsrotator completion fish | source\nfor line in $argv\n  echo \"$line =>\" (complete -C $line | string split -f1 \\t)\nend"
	shellCompletes(t, dir, env, fish, "--no-config", "-c", script)
}

// shellCompletes runs a shell script that prints "LINE => COMPLETIONS"
// for each of shellCases' lines (passed after args) and checks that each
// line completes to its one word.
func shellCompletes(t *testing.T, dir string, env []string, shell string, args ...string) {
	t.Helper()
	for _, c := range shellCases {
		args = append(args, c.line)
	}
	cmd := exec.Command(shell, args...)
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", shell, err, out)
	}
	for _, c := range shellCases {
		last := c.want[strings.LastIndex(c.want, " ")+1:]
		if !strings.Contains(string(out), c.line+" => "+last+"\n") {
			t.Errorf("%s does not complete %s: %q to %q; got:\n%s", filepath.Base(shell), c.why, c.line, last, out)
		}
	}
}

// Issue 20: zsh's real completion system (compinit) in an interactive zsh
// under tmux: type each prefix, press Tab, and read the line zsh
// completed on the screen.
func TestCompletionInZsh(t *testing.T) {
	zsh := needShell(t, "zsh", "zsh")
	tmux := needShell(t, "tmux", "tmux")
	dir, env := shellsFor(t)
	sock := fmt.Sprintf("stsrotator-completion-%d", os.Getpid())
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(tmux, append([]string{"-L", sock, "-f", "/dev/null"}, args...)...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %q: %v\n%s", args, err, out)
		}
		return string(out)
	}
	shell := "env -i"
	for _, kv := range append(env, zsh, "-f") {
		shell += " " + shellQuote(kv)
	}
	run("new-session", "-d", "-s", "z", "-x", "200", "-y", "50", "-c", dir, shell)
	t.Cleanup(func() { _ = exec.Command(tmux, "-L", sock, "kill-server").Run() })
	// waitFor polls the screen: the shell answers when it answers.
	waitFor := func(what string, ok func(screen string) bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			screen := run("capture-pane", "-t", "z", "-p")
			if ok(screen) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("zsh never showed %s; the screen:\n%s", what, screen)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	run("send-keys", "-t", "z", `autoload -Uz compinit && compinit -u -D && source <(stsrotator completion zsh) && echo comp""init-ready`, "Enter")
	waitFor("that compinit and the script loaded", func(s string) bool { return strings.Contains(s, "\ncompinit-ready\n") })
	for _, c := range shellCases {
		run("send-keys", "-t", "z", "C-u", c.line, "Tab")
		waitFor(c.why+" completed: "+c.want, func(s string) bool { return strings.Contains(s, c.want+" ") || strings.Contains(s, c.want+"\n") })
	}
}
