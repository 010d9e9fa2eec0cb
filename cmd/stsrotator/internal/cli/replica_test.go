package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/stsrotator/stsrotator/internal/mototest"
	"github.com/stsrotator/stsrotator/shared/credprovider"
	"github.com/stsrotator/stsrotator/shared/secretfmt"
)

// Issue figure: a consumer in a replica region reads the replica with the
// CLI's --region, on moto (which replicates secrets: ReplicaRegions on
// CreateSecret, new versions copied), and status shows each replica's
// ReplicationStatus from the primary's region and which copy it reads
// from a replica's.
func TestReplicaReadsWithRegion(t *testing.T) {
	s := mototest.Start(t)
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	ctx := context.Background()
	sm := secretsmanager.NewFromConfig(s.Config(""))
	now := time.Now()
	v1, _ := secretfmt.Marshal(value(1, now.Add(time.Hour), now.Add(40*time.Minute)))
	created, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String("stsrotator/web"), SecretString: aws.String(string(v1)),
		AddReplicaRegions: []smtypes.ReplicaRegionType{{Region: aws.String("eu-west-1")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The rotator writes in the primary region only; the replica follows.
	v2 := value(2, now.Add(2*time.Hour), now.Add(100*time.Minute))
	b2, _ := secretfmt.Marshal(v2)
	if _, err := sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: created.ARN, SecretString: aws.String(string(b2))}); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(t.TempDir(), "stsrotator.yaml")
	if err := os.WriteFile(cfgPath, []byte("targets:\n  - name: web\n    roleArn: arn:aws:iam::123456789012:role/Web\n    replicaRegions: [eu-west-1]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cli := func(args ...string) run {
		t.Helper()
		out, errb := &syncBuffer{}, &syncBuffer{}
		a := New(out, errb)
		// The real AWS config chain, but the recursion guard stays in-process.
		a.Setenv = func(string, string) error { return nil }
		return execute(t, a, out, errb, append(args, "--endpoint-url", s.URL)...)
	}

	// The profile line the stack prints names the primary's ARN; with
	// --region the replica's ARN is read instead.
	for _, args := range [][]string{
		{"credential-process", "--secret-id", aws.ToString(created.ARN), "--region", "eu-west-1"},
		{"credential-process", "--target", "web", "--config", cfgPath, "--region", "eu-west-1"},
	} {
		r := cli(args...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d: %s", args, r.code, r.stderr)
		}
		var got struct{ AccessKeyId string }
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || got.AccessKeyId != v2.AccessKeyID {
			t.Fatalf("%v: read %s (%v), want the latest version's %s", args, secretfmt.Mask(got.AccessKeyId), err, v2.MaskedKey())
		}
	}

	var rows []Row
	r := cli("status", "--config", cfgPath, "--json", "--region", "us-east-1")
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || r.code != 0 || len(rows) != 1 {
		t.Fatalf("status from the primary region: exit %d %v: %s%s", r.code, err, r.stdout, r.stderr)
	}
	if rep := rows[0].Replicas; len(rep) != 1 || rep[0].Region != "eu-west-1" || rep[0].Status != "InSync" {
		t.Fatalf("primary's view of the replicas: %+v", rep)
	}
	r = cli("status", "--config", cfgPath, "--json", "--region", "eu-west-1")
	rows = nil
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || r.code != 0 || len(rows) != 1 {
		t.Fatalf("status from the replica region: exit %d %v: %s%s", r.code, err, r.stdout, r.stderr)
	}
	if rep := rows[0].Replicas; len(rep) != 1 || rep[0].Region != "eu-west-1" || rep[0].Status != "InSync" || !strings.Contains(rep[0].Message, "primary is in us-east-1") {
		t.Fatalf("the replica region's view: %+v", rep)
	}
	if rows[0].Health != HealthOK || rows[0].Key != v2.MaskedKey() {
		t.Fatalf("replica row: %+v", rows[0])
	}
	// The table says the same as the JSON: which copy was read and where
	// the primary is.
	r = cli("status", "--config", cfgPath, "--region", "eu-west-1")
	if r.code != 0 || !strings.Contains(r.stdout, "OK (read from the replica in eu-west-1, InSync; the primary is in us-east-1)") {
		t.Fatalf("status table from the replica region: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// A region the config lists but Secrets Manager does not replicate to
	// (the stack not deployed yet) makes status fail and say so.
	if err := os.WriteFile(cfgPath, []byte("targets:\n  - name: web\n    roleArn: arn:aws:iam::123456789012:role/Web\n    replicaRegions: [eu-west-1, ap-southeast-2]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = cli("status", "--config", cfgPath, "--region", "us-east-1")
	if r.code != ExitUnhealthy || !strings.Contains(r.stdout, "ap-southeast-2 is not replicated") || !strings.Contains(r.stdout, "(replicas: eu-west-1 InSync, ap-southeast-2 Missing)") {
		t.Fatalf("missing replica: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// Proves: a secret's ARN is read in the client's region (a replica's ARN
// differs only there); names and other ARNs are left alone.
func TestInRegion(t *testing.T) {
	arn := "arn:aws:secretsmanager:us-east-1:123456789012:secret:stsrotator/web-AbCdEf"
	cases := []struct{ why, id, region, want string }{
		{"an ARN moves to the client's region", arn, "eu-west-1", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:stsrotator/web-AbCdEf"},
		{"the same region is unchanged", arn, "us-east-1", arn},
		{"no region leaves it as given", arn, "", arn},
		{"a name is the same in every region", "stsrotator/web", "eu-west-1", "stsrotator/web"},
		{"a name with colons is not an ARN", "team:web", "eu-west-1", "team:web"},
		{"another service's ARN is left alone", "arn:aws:kms:us-east-1:123456789012:key/abc", "eu-west-1", "arn:aws:kms:us-east-1:123456789012:key/abc"},
	}
	for _, c := range cases {
		if got := credprovider.InRegion(c.id, c.region); got != c.want {
			t.Errorf("%s: got %s, want %s", c.why, got, c.want)
		}
	}
}
