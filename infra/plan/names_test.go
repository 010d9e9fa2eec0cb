package plan

import (
	"strings"
	"testing"
)

// Proves: rotator role names are literal, stable and within IAM's 64
// characters; every stack name CheckStackName accepts is used whole, and a
// longer one is cut with a hash of the whole name, so two long names that
// share a prefix still differ and each always gives the same name.
func TestRotatorRoleName(t *testing.T) {
	if got := RotatorRoleName("stsrotator", 42); got != "stsrotator-Shard042-rotator" {
		t.Errorf("got %q", got)
	}
	longest := strings.Repeat("s", MaxStackNameLen)
	if err := CheckStackName(longest); err != nil {
		t.Fatal(err)
	}
	for _, shard := range []int{0, Shards - 1} {
		if got := RotatorRoleName(longest, shard); got != longest+"-"+ShardID(shard)+"-rotator" || len(got) > MaxRoleNameLen {
			t.Errorf("the longest accepted stack name: %q (%d characters)", got, len(got))
		}
	}
	a, b := strings.Repeat("a", 80)+"-one", strings.Repeat("a", 80)+"-two"
	na, nb := RotatorRoleName(a, 7), RotatorRoleName(b, 7)
	if len(na) != MaxRoleNameLen || len(nb) != MaxRoleNameLen || na == nb || na != RotatorRoleName(a, 7) || !strings.HasSuffix(na, "-Shard007-rotator") {
		t.Errorf("shortened: %q, %q", na, nb)
	}
	for _, n := range []string{ReactorRoleName(a), SourceUserName(a)} {
		if len(n) > MaxRoleNameLen {
			t.Errorf("%q is %d characters", n, len(n))
		}
	}
}
