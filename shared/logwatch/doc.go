// Package logwatch owns the no-code-change signal: CloudWatch Logs lines
// that mention ExpiredToken, delivered by a subscription filter, become
// "ExpiredToken Observed" reports for the target whose consumers write to
// that log group, at most one per target per interval.
package logwatch
