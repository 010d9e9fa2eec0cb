package plantest

import (
	"fmt"
	"strings"
)

// Config is a valid config file with n targets.
func Config(n int) []byte {
	var b strings.Builder
	b.WriteString("version: 1\ndefaults:\n  tags:\n    team: platform\nalerts:\n  emails: [oncall@example.com]\ntargets:\n")
	for i := 0; i < n; i++ {
		acct := fmt.Sprintf("1000000000%02d", i%7)
		fmt.Fprintf(&b, "  - name: target-%04d\n    roleArn: arn:aws:iam::%s:role/service/Workload%04dAccess\n", i, acct, i)
		switch i % 4 {
		case 0:
			fmt.Fprintf(&b, "    sessionTags: {purpose: batch}\n")
		case 1:
			fmt.Fprintf(&b, "    sourceIdentity: stsrotator\n    refreshBefore: 30m\n")
		case 2:
			fmt.Fprintf(&b, "    secretName: workloads/%04d/credentials\n", i)
		}
		if i%3 == 0 {
			fmt.Fprintf(&b, "    readers: [\"%s\"]\n", acct)
		} else {
			fmt.Fprintf(&b, "    readers: [arn:aws:iam::%s:role/Consumer%04d]\n", acct, i)
		}
	}
	return []byte(b.String())
}

// Readers is a valid config with one target, t0, read by n roles of one
// account.
func Readers(n int) []byte {
	var b strings.Builder
	b.WriteString("targets:\n  - name: t0\n    roleArn: arn:aws:iam::123456789012:role/Target\n    readers:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "      - arn:aws:iam::210987654321:role/consumers/ReportReader%04d\n", i)
	}
	return []byte(b.String())
}

// ReaderAccounts is a valid config whose targets (ten readers each) are
// read by n distinct accounts in all.
func ReaderAccounts(n int) []byte {
	var b strings.Builder
	b.WriteString("targets:\n")
	for i := 0; i < n; i += 10 {
		fmt.Fprintf(&b, "  - name: t%d\n    roleArn: arn:aws:iam::123456789012:role/Target\n    readers:\n", i)
		for j := i; j < min(i+10, n); j++ {
			fmt.Fprintf(&b, "      - \"%012d\"\n", 300000000000+j)
		}
	}
	return []byte(b.String())
}
