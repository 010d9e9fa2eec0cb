package regions

import "sort"

// Partition is the partition ID ("aws", "aws-cn", "aws-us-gov",
// "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc") of region,
// the same string that starts its ARNs; ok is false for a region the table
// does not know, which may be a typo or a Region newer than the SDK.
func Partition(region string) (partition string, ok bool) {
	p, ok := table[region]
	return p, ok
}

// In lists the known regions of partition, sorted, for error messages.
func In(partition string) []string {
	var out []string
	for r, p := range table {
		if p == partition {
			out = append(out, r)
		}
	}
	sort.Strings(out)
	return out
}
