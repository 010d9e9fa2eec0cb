package regions

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// Proves: the table is the SDK's, region for region: a Region AWS adds
// reaches stsrotator with the SDK upgrade that brings it, since this test
// then fails and prints the table to paste into table.go.
func TestTableMatchesSDK(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/aws/aws-sdk-go-v2").Output()
	if err != nil {
		t.Fatalf("locate the SDK module: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "internal", "endpoints", "awsrulesfn", "partitions.json"))
	if err != nil {
		t.Fatalf("read the SDK's partition table: %v", err)
	}
	var doc struct {
		Partitions []struct {
			ID      string                     `json:"id"`
			Regions map[string]json.RawMessage `json:"regions"`
		} `json:"partitions"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, p := range doc.Partitions {
		for r := range p.Regions {
			if !strings.HasSuffix(r, "-global") {
				want[r] = p.ID
			}
		}
	}
	if len(want) < 30 {
		t.Fatalf("the SDK lists only %d regions: the file's shape changed", len(want))
	}
	if fmt.Sprint(want) != fmt.Sprint(table) {
		var lines []string
		for r, p := range want {
			lines = append(lines, fmt.Sprintf("\t%q: %q,", r, p))
		}
		sort.Strings(lines)
		t.Errorf("table.go differs from the SDK's partitions.json; replace its entries with:\n%s", strings.Join(lines, "\n"))
	}
}

// Proves: the lookups users' configs hit, one per partition, and that an
// unknown or misspelt region is not guessed into a partition.
func TestPartition(t *testing.T) {
	for _, c := range []struct{ region, want string }{
		{"us-east-1", "aws"}, {"eu-west-1", "aws"}, {"ap-south-1", "aws"},
		{"cn-north-1", "aws-cn"}, {"cn-northwest-1", "aws-cn"},
		{"us-gov-west-1", "aws-us-gov"}, {"us-iso-east-1", "aws-iso"}, {"us-isob-east-1", "aws-iso-b"},
		{"eu-isoe-west-1", "aws-iso-e"}, {"us-isof-south-1", "aws-iso-f"}, {"eusc-de-east-1", "aws-eusc"},
		{"eu-west-9", ""}, {"us-east1", ""}, {"aws-global", ""},
	} {
		got, ok := Partition(c.region)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("Partition(%q) = %q, %v; want %q", c.region, got, ok, c.want)
		}
	}
	if got := In("aws-cn"); fmt.Sprint(got) != "[cn-north-1 cn-northwest-1]" {
		t.Errorf("In(aws-cn) = %v", got)
	}
}
