// Package logwatch owns the no-code-change signal: CloudWatch Logs lines
// that carry an expired-credential error in any SDK's words (the
// expiredcreds table), delivered by a subscription filter, become
// "ExpiredToken Observed" reports for the target whose consumers write to
// that log group, at most one per target per interval.
package logwatch
