package localstack

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stsrotator/stsrotator/internal/awstest"
)

// Issue 15 §6: the lines make local prints to paste exported only
// AWS_REGION, so the AWS CLI v1 and boto3 failed with "You must specify a
// region". With exactly those lines (and nothing from this machine's AWS
// setup), both reach the emulator.
func TestClientEnvServesTheAWSCLIAndBoto3(t *testing.T) {
	env := awstest.Start(t)
	s := &Stack{Endpoint: env.URL}
	home := t.TempDir()
	shell := append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + home,
		"AWS_CONFIG_FILE=" + filepath.Join(home, "none"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(home, "none"),
		"AWS_EC2_METADATA_DISABLED=true"}, s.ClientEnv()...)
	for _, c := range []struct {
		why  string
		argv []string
	}{
		{"the AWS CLI v1", []string{"aws", "sts", "get-caller-identity"}},
		{"boto3", []string{"python3", "-c", "import boto3; print(boto3.client('sts').get_caller_identity()['Arn'])"}},
	} {
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(c.argv[0], c.argv[1:]...)
		cmd.Env, cmd.Stdout, cmd.Stderr = shell, &stdout, &stderr
		if err := cmd.Run(); err != nil || !strings.Contains(stdout.String(), "arn:aws:") {
			t.Errorf("%s with make local's exports: %v\nstdout %s\nstderr %s", c.why, err, stdout.String(), stderr.String())
		}
	}
}
