package cli

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stsrotator/stsrotator/internal/awstest"
)

// Issue 15 §6: `eval "$(stsrotator env ...)"` on a refused secret used to
// print the error, return 0 and leave the shell signing with whatever it
// had exported before. Now the documented pattern stops a set -e script,
// and without set -e no older credentials stay in force. Run in bash, the
// way scripts use it.
func TestEnvEvalRefusal(t *testing.T) {
	env := awstest.Start(t)
	bin := buildCLI(t)
	home := t.TempDir()
	now := time.Now().UTC().Truncate(time.Second)
	good, expired := env.Unique("stsrotator/evalgood"), env.Unique("stsrotator/evalexpired")
	putValue(t, env, good, "evalgood", value(41, now.Add(time.Hour), now.Add(40*time.Minute)))
	putValue(t, env, expired, "evalexpired", value(42, now.Add(-time.Minute), now.Add(-20*time.Minute)))
	goodKey := value(41, now, now).AccessKeyID

	cases := []struct {
		why    string
		script string
		code   int
		stdout string
	}{
		{"under set -e the refusal stops the script with env's exit code", `set -e
eval "$(stsrotator env --secret-id ` + good + `)"
echo "first: $AWS_ACCESS_KEY_ID"
eval "$(stsrotator env --secret-id ` + expired + `)"
echo "still running with $AWS_ACCESS_KEY_ID"
`, ExitExpired, "first: " + goodKey + "\n"},
		{"without set -e the refusal unsets every variable an earlier eval exported and sets $?", `eval "$(stsrotator env --secret-id ` + good + `)"
eval "$(stsrotator env --secret-id ` + expired + `)"
echo "status $? key ${AWS_ACCESS_KEY_ID-unset} secret ${AWS_SECRET_ACCESS_KEY-unset} token ${AWS_SESSION_TOKEN-unset} expiration ${AWS_CREDENTIAL_EXPIRATION-unset}"
`, ExitOK, "status 5 key unset secret unset token unset expiration unset\n"},
		{"a secret that does not exist is refused the same way", `set -e
eval "$(stsrotator env --secret-id ` + env.Unique("stsrotator/absent") + `)"
echo "still running"
`, ExitNotFound, ""},
	}
	for _, c := range cases {
		t.Run(c.why, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			cmd := exec.Command("bash", "-c", "stsrotator() { "+shellQuote(bin)+` "$@"; }`+"\n"+c.script)
			cmd.Env, cmd.Stdout, cmd.Stderr = binEnv(env, home), &stdout, &stderr
			_ = cmd.Run()
			_, _ = awstest.Logs.Write(stderr.Bytes())
			if code := cmd.ProcessState.ExitCode(); code != c.code || stdout.String() != c.stdout {
				t.Fatalf("bash exited %d with stdout %q; want %d and %q\nstderr: %s", code, stdout.String(), c.code, c.stdout, stderr.String())
			}
			if !strings.Contains(stderr.String(), "stsrotator env: ") {
				t.Fatalf("the reason is not on stderr: %q", stderr.String())
			}
		})
	}
}
