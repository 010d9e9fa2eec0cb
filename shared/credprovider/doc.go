// Package credprovider lets Go programs use the credentials stsrotator
// keeps in Secrets Manager without knowing they rotate.
//
// A Provider is an aws.CredentialsProvider that reads one target's secret
// and serves it from memory until the secret's own refresh hint, so a hot
// path costs an atomic load and a clock read. Concurrent callers share one
// fetch; a failed fetch keeps serving credentials that have not expired;
// expired credentials are never returned.
//
// Config (or the ExpiredTokenRecovery API option) makes every SDK client a
// sensor: a call refused with ExpiredToken invalidates the cache, re-reads
// the secret, retries that call once and reports the failure to
// EventBridge as an "ExpiredToken Observed" event, so the target is
// rotated before the next scheduled sweep.
package credprovider
