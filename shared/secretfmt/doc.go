// Package secretfmt owns the secret value stsrotator writes: the JSON that
// AWS credential_process expects, byte for byte, plus an "Stsrotator"
// object of metadata that credential_process consumers ignore. It is a
// public contract: consumers in any language read it, so fields are only
// ever added, never renamed.
//
// It also owns masking: the only form of an access key that may appear in
// a log line, an alert or a status table.
package secretfmt
