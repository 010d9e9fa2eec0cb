package expiredcreds

import (
	"strconv"
	"strings"
)

// MaxFilterPatternLen is the longest filter pattern CloudWatch Logs takes
// (PutSubscriptionFilter filterPattern, "Maximum length of 1024"):
// https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutSubscriptionFilter.html
const MaxFilterPatternLen = 1024

// FilterPattern is the CloudWatch Logs subscription filter pattern that
// lets through every line Classify can report: an OR ("?term") of every
// code and every message of the table. Under the documented syntax for
// unstructured log events, terms are case-sensitive, and a term with
// spaces or symbols must be a quoted phrase:
// https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html
//
// It is a superset: a line it wakes the watcher for may still carry no
// report (a Generic message without an SDK's context, a code in prose);
// Classify decides.
func FilterPattern() string {
	var terms []string
	for _, c := range codes {
		terms = append(terms, "?"+filterTerm(c.Name))
	}
	for _, m := range messages {
		terms = append(terms, "?"+filterTerm(m.Text))
	}
	return strings.Join(terms, " ")
}

// filterTerm quotes a term unless it is only letters, digits and
// underscores.
func filterTerm(s string) string {
	for _, r := range s {
		if !(r == '_' || r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z') {
			return strconv.Quote(s)
		}
	}
	return s
}
